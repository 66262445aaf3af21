// Command ops is PickMyClass's operations tool: one small binary, shipped in
// every image, with the commands an operator needs on a running deployment.
//
//	ops migrate                               apply the database migrations
//	ops admin create --email E                create an admin; prints a generated password
//	ops admin promote --email E               make an existing, confirmed account an admin
//	ops dlq list [--count N]                  list dead letters, newest first
//	ops dlq replay ID... | --all              put dead letters back on the stream
//	ops dlq discard ID... | --all             delete dead letters
//	ops breaker show | reset                  the shared ASU circuit breaker
//	ops sweep now                             enqueue a sweep of every watched section now, planned as the scheduler plans
//	ops demo seed                             create the demo accounts and watches (local databases only)
//	ops queue                                 stream length, pending, lag, dead letters
//	ops probe URL                             exit 0 when URL answers 2xx (container health checks)
//	ops version
//
// Configuration comes from the environment, as for the services:
// DATABASE_URL, REDIS_URL and REDIS_PREFIX (default "pmc:"), and for
// `sweep now` the scheduler's sweep settings; a command reads only what it
// needs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage marks a command line that is wrong; main exits 2 on it.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "ops: %v\n", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage: ops COMMAND [ARGS]

commands:
  migrate                          apply the database migrations
  admin create --email E           create an admin account; prints a generated password
  admin promote --email E          make an existing, confirmed account an admin
  dlq list [--count N]             list dead letters, newest first (default 20)
  dlq replay ID... | --all         append dead letters back to the stream and remove them
  dlq discard ID... | --all        delete dead letters
  breaker show                     state of the shared ASU circuit breaker and 429 back-off
  breaker reset                    close the breaker and clear the back-off
  sweep now                        enqueue a sweep of every watched section now, planned as the scheduler plans
  demo seed                        create the demo accounts and watches (a database on this machine only)
  queue                            stream length, pending, lag, dead letters, delayed
  probe URL                        exit 0 when URL answers 2xx (container health checks)
  vapid generate                   print a new web push key pair (VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY)
  version                          print the version

environment: DATABASE_URL, REDIS_URL, REDIS_PREFIX (default "pmc:"); sweep now also reads
SCHEDULER_INTERVAL, SCHEDULER_MIN_INTERVAL, SCHEDULER_PLAN, ASU_RATE and ASU_SECTIONS_RATE;
demo seed reads ASU_API_BASE_URL
`

// run executes one command. Output meant for the operator goes to stdout;
// errors are returned.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "probe":
		return probe(ctx, rest, stdout)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout)
	case "admin":
		return admin(ctx, rest, getenv, stdout)
	case "dlq":
		return dlq(ctx, rest, getenv, stdout)
	case "breaker":
		return breakerCmd(ctx, rest, getenv, stdout)
	case "sweep":
		return sweepNow(ctx, rest, getenv, stdout)
	case "demo":
		return demo(ctx, rest, getenv, stdout)
	case "queue":
		return queue(ctx, rest, getenv, stdout)
	case "vapid":
		return vapid(rest, stdout)
	}
	return fmt.Errorf("%w: unknown command %q (ops help lists them)", errUsage, cmd)
}

// subcommand splits "admin create ..." into its verb and arguments.
func subcommand(group string, args []string, verbs ...string) (string, []string, error) {
	if len(args) == 0 {
		return "", nil, fmt.Errorf("%w: ops %s needs one of %v", errUsage, group, verbs)
	}
	for _, v := range verbs {
		if args[0] == v {
			return v, args[1:], nil
		}
	}
	return "", nil, fmt.Errorf("%w: ops %s %s: unknown; want one of %v", errUsage, group, args[0], verbs)
}

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// parse parses args, turning flag errors into usage errors. Flags may
// follow positional arguments ("dlq replay ID --all" is seen as both), so
// positionals are collected and handed back through args.
func parse(fs *flag.FlagSet, args []string) error {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	// Parse the positionals alone so fs.Args returns them; "--" stops flag
	// parsing of anything that looks like a flag.
	if err := fs.Parse(append([]string{"--"}, positional...)); err != nil {
		return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	return nil
}
