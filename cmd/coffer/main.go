// Command coffer is the Coffer managed file transfer server and its administration tool.
// Each subcommand lives in its own file; main only dispatches and exits.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

// env is what a command sees of the world; tests supply their own.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// euid is the effective user id (os.Geteuid when nil); tests set it to play root.
	euid func() int
}

// command is one subcommand: run returns the process exit status.
type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) int
}

// Exit statuses shared by all commands.
const (
	exitOK      = 0
	exitFailure = 1 // the operation failed (or, for audit verify, the log is damaged)
	exitUsage   = 2 // bad command line or configuration
)

func commands() map[string]command {
	cmds := map[string]command{
		"serve":   {"run the server", cmdServe},
		"version": {"print the version", cmdVersion},
		"send":    {"send files as a parcel and print its links", cmdSend},
		"receive": {"download, decrypt and verify a parcel's files from its link", cmdReceive},
	}
	for name, c := range adminCommands() {
		cmds[name] = c
	}
	return cmds
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, e env, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 && args[0] == "help" {
			return run(ctx, e, []string{args[1], "--help"})
		}
		usage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(e.stderr, "coffer: unknown command %q (run 'coffer help' for the list)\n", args[0])
		return exitUsage
	}
	return c.run(ctx, e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "Coffer %s: secure managed file transfer.\n\nUsage: coffer COMMAND [flags]\n\nCommands:\n", Version)
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'coffer COMMAND --help' for a command's flags. The flags that locate the data\n"+
		"(--data, --db, --kek-file...) and those of serve can also be set with an environment\n"+
		"variable (COFFER_ + the name in capitals, - as _, e.g. COFFER_DATA) or in a --config file.\n")
}

func cmdVersion(_ context.Context, e env, args []string) int {
	if len(args) > 0 && strings.TrimLeft(args[0], "-") == "help" {
		fmt.Fprintln(e.stdout, "Usage: coffer version\n\nPrints the version of this binary.")
		return exitOK
	}
	fmt.Fprintf(e.stdout, "coffer %s\n", Version)
	return exitOK
}
