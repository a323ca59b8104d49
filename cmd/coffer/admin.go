package main

// The administration commands work on the data directory (or the DSN) directly, also
// while the server runs: whoever can read the data directory and the key is the local
// administrator (accounts.LocalAdmin). Every change goes through package accounts, so it
// is checked and audited exactly as it would be over the REST API.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strings"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/server"
)

func adminCommands() map[string]command {
	return map[string]command{
		"user":     {"manage user accounts (add, list, show, disable, passwd, quota...)", cmdUser},
		"group":    {"manage groups and their members", cmdGroup},
		"folder":   {"manage shared folders and their quotas", cmdFolder},
		"grant":    {"give a user or group permissions on a shared folder; list grants", cmdGrant},
		"revoke":   {"take a user's or group's grant on a shared folder away", cmdRevoke},
		"token":    {"create, list and revoke API tokens", cmdToken},
		"audit":    {"verify, export and list the audit log", cmdAudit},
		"unlock":   {"lift a sign-in lockout of an account or address", cmdUnlock},
		"ban":      {"list and lift bans of client addresses (the defender)", cmdBan},
		"settings": {"show and change server-wide settings (require-2fa)", cmdSettings},
		"sftp":     {"print the SSH host keys' fingerprints and known_hosts lines", cmdSFTP},
	}
}

// subcommand is one entry of a command group such as "user add".
type subcommand struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) int
}

// dispatch runs the subcommand named by args[0] among subs. Without one it prints the
// group's usage: to stdout with exit 0 when asked for help, to stderr with exit 2 when
// the subcommand is missing or unknown.
func dispatch(ctx context.Context, e env, group, about string, subs []subcommand, args []string) int {
	printUsage := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: coffer %s COMMAND [arguments] [flags]\n\n%s\n\nCommands:\n", group, about)
		for _, s := range subs {
			fmt.Fprintf(w, "  %-15s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(w, "\nRun 'coffer %s COMMAND --help' for a command's arguments and flags.\n", group)
	}
	if len(args) == 0 {
		printUsage(e.stderr)
		return exitUsage
	}
	if isHelp(args[0]) {
		printUsage(e.stdout)
		return exitOK
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, e, args[1:])
		}
	}
	fmt.Fprintf(e.stderr, "coffer: unknown command %q (run 'coffer %s --help' for the list)\n", group+" "+args[0], group)
	return exitUsage
}

func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// spec describes one administration command for its usage text and argument checks.
type spec struct {
	name  string // "user add"
	args  string // synopsis of the arguments and flags: "NAME [--admin]"
	about string // what it does, for --help
	min   int    // positional arguments required
	max   int    // positional arguments allowed
	// check, if set, validates the positional arguments before anything is opened; an
	// error is a usage error.
	check func(args []string) error
	// failExit is the exit status for failures other than usage errors: exitFailure when
	// zero. audit verify reserves exitFailure for a damaged log.
	failExit int
}

// session is an open Core and the actor the command works as.
type session struct {
	e     env
	core  *server.Core
	actor auth.Principal
	spec  spec
}

// withCore parses args (flags may come before or after the positional arguments),
// opens the Core from the storage flags, environment and config file, runs body and
// closes the Core. setup registers the command's own flags. It never sets a new Coffer
// up: a data directory, database or key that does not exist yet is refused (checkSetUp).
func withCore(ctx context.Context, e env, sp spec, args []string, setup func(fs *flag.FlagSet), body func(s *session, args []string) int) int {
	var given config.Config
	fs := flag.NewFlagSet("coffer "+sp.name, flag.ContinueOnError)
	if setup != nil {
		setup(fs)
	}
	given.Storage(fs)
	fs.SetOutput(io.Discard) // errors are reported below, in one line
	fs.Usage = func() {}
	err := fs.Parse(permute(fs, args))
	if errors.Is(err, flag.ErrHelp) {
		printHelp(e.stdout, sp, setup)
		return exitOK
	}
	if err != nil {
		return usageError(e, sp, err)
	}
	cfg, err := storageConfig(fs, e.getenv)
	if err != nil {
		return usageError(e, sp, err)
	}
	pos := fs.Args()
	switch {
	case len(pos) < sp.min:
		return usageError(e, sp, fmt.Errorf("missing arguments: usage is coffer %s %s", sp.name, sp.args))
	case len(pos) > sp.max:
		return usageError(e, sp, fmt.Errorf("unexpected argument %q: usage is coffer %s %s", pos[sp.max], sp.name, sp.args))
	}
	if sp.check != nil {
		if err := sp.check(pos); err != nil {
			return usageError(e, sp, err)
		}
	}
	if sp.failExit == 0 {
		sp.failExit = exitFailure
	}
	log, err := server.NewLogger(cfg, e.stderr)
	if err != nil {
		return usageError(e, sp, err)
	}
	openFailed := func(err error) int {
		fmt.Fprintf(e.stderr, "coffer: %s: %s\n", sp.name, message(err))
		if errs.Is(errs.Invalid, err) {
			return exitUsage
		}
		return sp.failExit
	}
	if err := checkSetUp(ctx, cfg, e.getenv); err != nil {
		return openFailed(err)
	}
	core, err := server.Open(ctx, cfg, log, e.getenv)
	if err != nil {
		return openFailed(err)
	}
	defer core.Close()
	s := &session{e: e, core: core, actor: accounts.LocalAdmin(osUserName()), spec: sp}
	return body(s, pos)
}

// storageConfig completes the storage flags given in fs from the environment and the
// config file. Only the storage flags: a command's own flags (--admin, --perm, --user...)
// take effect only when typed, so that a stray COFFER_ADMIN=1 never creates administrators.
func storageConfig(fs *flag.FlagSet, getenv func(string) string) (config.Config, error) {
	var cfg config.Config
	storage := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	storage.SetOutput(io.Discard)
	cfg.Storage(storage)
	cfg.Serve(storage) // unused here, but a config file shared with 'coffer serve' may set them
	var args []string
	fs.Visit(func(f *flag.Flag) {
		if storage.Lookup(f.Name) != nil {
			args = append(args, "-"+f.Name+"="+f.Value.String())
		}
	})
	return cfg, config.Parse(storage, args, getenv)
}

// printHelp prints a command's usage: its own flags first, then the storage flags that
// every administration command shares.
func printHelp(w io.Writer, sp spec, setup func(fs *flag.FlagSet)) {
	fmt.Fprintf(w, "Usage: coffer %s %s\n\n%s\n", sp.name, sp.args, sp.about)
	if setup != nil {
		// Registering again only resets the flag variables to their defaults, and the
		// command ends after printing.
		own := flag.NewFlagSet(sp.name, flag.ContinueOnError)
		setup(own)
		own.SetOutput(w)
		fmt.Fprintf(w, "\nFlags:\n")
		own.PrintDefaults()
	}
	var cfg config.Config
	storage := flag.NewFlagSet(sp.name, flag.ContinueOnError)
	cfg.Storage(storage)
	storage.SetOutput(w)
	fmt.Fprintf(w, "\nStorage flags (each also COFFER_ + its name, or a --config setting; the server may keep running):\n")
	storage.PrintDefaults()
}

func usageError(e env, sp spec, err error) int {
	fmt.Fprintf(e.stderr, "coffer: %s: %v (see 'coffer %s --help')\n", sp.name, err, sp.name)
	return exitUsage
}

// fail reports that what failed because of err, and returns the exit status: exitUsage
// for an invalid request (a bad name, a weak password), the command's failure status
// otherwise.
func (s *session) fail(what string, err error) int {
	fmt.Fprintf(s.e.stderr, "coffer: %s: %s\n", what, message(err))
	if errs.Is(errs.Invalid, err) {
		return exitUsage
	}
	return s.spec.failExit
}

// message is err for a person: the innermost explanation of an errs.Error, without the
// Go operation names, keeping any context wrapped around it.
func message(err error) string {
	var e *errs.Error
	if !errors.As(err, &e) || errs.KindOf(err) == errs.Other {
		return err.Error() // unclassified: the whole chain is what helps the operator
	}
	if errs.Is(errs.Canceled, err) {
		return "interrupted"
	}
	return strings.Replace(err.Error(), e.Error(), errs.Detail(e), 1)
}

// osUserName names the local administrator in the audit log.
func osUserName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "unknown"
}

// permute moves flags ahead of positional arguments, so that "user add alice --admin"
// parses like "user add --admin alice". Everything after "--" stays positional.
func permute(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' || (a[1] >= '0' && a[1] <= '9') { // "-5" is a (bad) size
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // fs.Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	return append(append(flags, "--"), pos...)
}

// isTerminal reports whether w is a terminal, for progress output.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// printable makes text that clients chose (paths, names, details) safe to print on a
// terminal: control characters, which could move the cursor or forge lines, are escaped.
func printable(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == 0xfffd {
			q := fmt.Sprintf("%+q", s)
			return q[1 : len(q)-1]
		}
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
