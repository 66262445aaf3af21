//go:build !chaos

package chaos

// full is false in the fast subset that `make test` runs: fewer trials and
// shorter outages, a few minutes in all.
const full = false
