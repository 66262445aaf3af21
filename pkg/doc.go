// Package pkg holds the libraries shared by the PickMyClass services.
package pkg
