// Package streamv1 holds the Go types generated from proto/stream/v1: the
// payloads carried in the data field of stream entries. Regenerate with
// proto/generate.sh (make proto); never edit the *.pb.go files by hand.
package streamv1
