package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
)

func cmdUserKey(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "user key", "Manages the SSH public keys with which a user signs in over SFTP.", []subcommand{
		{"add", "register a public key (an OpenSSH .pub file)", userKeyAdd},
		{"list", "list a user's keys with their fingerprints", userKeyList},
		{"remove", "remove a key by its fingerprint", userKeyRemove},
	}, args)
}

func userKeyAdd(ctx context.Context, e env, args []string) int {
	var file string
	sp := spec{name: "user key add", args: "USER (--file KEY.pub | --file -)", min: 1, max: 1,
		about: "Registers an SSH public key for USER: one line as in a .pub or authorized_keys file.\n" +
			"ed25519, ECDSA and RSA (2048 bits or more) keys are accepted; key options are not."}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&file, "file", "", "public key `file`, or - for standard input")
	}, func(s *session, args []string) int {
		if file == "" {
			return usageError(e, sp, errors.New("give the public key with --file KEY.pub (or --file - to read it from standard input)"))
		}
		var line []byte
		var err error
		if file == "-" {
			line, err = io.ReadAll(io.LimitReader(e.stdin, accounts.MaxKeyLine+1))
		} else {
			line, err = os.ReadFile(file)
		}
		if err != nil {
			return usageError(e, sp, fmt.Errorf("cannot read the key: %v", err))
		}
		k, err := s.core.Accounts.AddKey(ctx, s.actor, args[0], string(line))
		if err != nil {
			return s.fail(fmt.Sprintf("cannot add the key for %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "added %s key %s for %q\n", k.KeyType, k.Fingerprint, args[0])
		return exitOK
	})
}

func userKeyList(ctx context.Context, e env, args []string) int {
	sp := spec{name: "user key list", args: "USER", min: 1, max: 1, about: "Lists USER's SSH public keys."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		keys, err := s.core.Accounts.ListKeys(ctx, s.actor, args[0])
		if err != nil {
			return s.fail(fmt.Sprintf("cannot list the keys of %q", printable(args[0])), err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FINGERPRINT\tTYPE\tCOMMENT\tADDED\tLAST USED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k.Fingerprint, k.KeyType, printable(k.Comment),
				k.Created.Format("2006-01-02"), formatWhen(k.LastUsed))
		}
		tw.Flush()
		return exitOK
	})
}

func formatWhen(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Format("2006-01-02 15:04")
}

func userKeyRemove(ctx context.Context, e env, args []string) int {
	sp := spec{name: "user key remove", args: "USER FINGERPRINT", min: 2, max: 2,
		about: "Removes USER's key with FINGERPRINT (as 'coffer user key list' shows it, SHA256:...)."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		if err := s.core.Accounts.RemoveKey(ctx, s.actor, args[0], args[1]); err != nil {
			return s.fail(fmt.Sprintf("cannot remove the key of %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "removed key %s of %q\n", args[1], args[0])
		return exitOK
	})
}

func userPasswordLogin(ctx context.Context, e env, args []string) int {
	var on, off bool
	sp := spec{name: "user password-login", args: "NAME (--on | --off)", min: 1, max: 1,
		about: "Allows (--on, the default for new users) or forbids (--off) signing in with a password.\n" +
			"With --off, NAME signs in over SFTP with SSH keys only (and uses API tokens)."}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&on, "on", false, "allow password sign-in")
		fs.BoolVar(&off, "off", false, "forbid password sign-in")
	}, func(s *session, args []string) int {
		if on == off {
			return usageError(e, sp, errors.New("give exactly one of --on and --off"))
		}
		if _, err := s.core.Accounts.UpdateUser(ctx, s.actor, args[0], accounts.UserUpdate{PasswordLogin: &on}); err != nil {
			return s.fail(fmt.Sprintf("cannot change password sign-in of %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "password sign-in for %q: %s\n", args[0], map[bool]string{true: "allowed", false: "forbidden (keys only)"}[on])
		return exitOK
	})
}
