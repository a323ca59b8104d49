package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/authz"
)

const grantAbout = "Sets (replacing) the permissions of one user or one group on the shared folder FOLDER.\n" +
	"PERMS is a comma-separated list of list, read, write and delete, or all. To take a\n" +
	"grant away use 'coffer revoke FOLDER --user U' (--perm none is refused, so that a typo\n" +
	"never removes access). 'coffer grant list [FOLDER]' lists the grants, of FOLDER or all.\n" +
	"To grant on a folder named list, put the flags first: coffer grant --user U --perm read list"

func cmdGrant(ctx context.Context, e env, args []string) int {
	if len(args) > 0 && args[0] == "list" {
		return grantList(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "help" {
		args = []string{"--help"}
	}
	var grantee granteeFlags
	var perms string
	var perm authz.Perm
	sp := spec{name: "grant", args: "FOLDER (--user U | --group G) --perm PERMS\n       coffer grant list [FOLDER]", min: 1, max: 1,
		about: grantAbout,
		check: func([]string) error {
			if err := grantee.check(); err != nil {
				return err
			}
			var err error
			switch p := strings.TrimSpace(perms); p {
			case "":
				return errors.New("missing --perm: give the permissions, e.g. --perm list,read")
			case "none", "0":
				return errors.New("--perm none: to take a grant away use 'coffer revoke FOLDER --user U' (or --group G)")
			default:
				perm, err = authz.ParsePerm(p)
				if err != nil {
					return fmt.Errorf("bad --perm: %v", err)
				}
			}
			return nil
		}}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		grantee.register(fs, "receives")
		fs.StringVar(&perms, "perm", "", "the permissions `PERMS`: comma-separated list, read, write, delete; or all")
	}, func(s *session, args []string) int {
		folder := args[0]
		who := grantee.value()
		if err := s.core.Accounts.Grant(ctx, s.actor, folder, who, perm); err != nil {
			return s.fail(fmt.Sprintf("cannot grant %s on %q to %s", perm, printable(folder), printable(who.String())), err)
		}
		fmt.Fprintf(e.stdout, "granted %s on %q to %s\n", perm, folder, who)
		return exitOK
	})
}

func cmdRevoke(ctx context.Context, e env, args []string) int {
	if len(args) > 0 && args[0] == "help" {
		args = []string{"--help"}
	}
	var grantee granteeFlags
	sp := spec{name: "revoke", args: "FOLDER (--user U | --group G)", min: 1, max: 1,
		about: "Takes away the grant of one user or one group on the shared folder FOLDER. A user may\n" +
			"keep access through another grant (to a group they belong to): see 'coffer user show'.",
		check: func([]string) error { return grantee.check() }}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		grantee.register(fs, "loses")
	}, func(s *session, args []string) int {
		folder := args[0]
		who := grantee.value()
		if err := s.core.Accounts.Grant(ctx, s.actor, folder, who, 0); err != nil {
			return s.fail(fmt.Sprintf("cannot revoke the grant of %s on %q", printable(who.String()), printable(folder)), err)
		}
		fmt.Fprintf(e.stdout, "revoked the grant of %s on %q\n", who, folder)
		return exitOK
	})
}

// granteeFlags are --user and --group, exactly one of which names who a grant is for.
type granteeFlags struct{ user, group string }

func (g *granteeFlags) register(fs *flag.FlagSet, verb string) {
	fs.StringVar(&g.user, "user", "", "the `USER` who "+verb+" the grant")
	fs.StringVar(&g.group, "group", "", "the `GROUP` that "+verb+" the grant")
}

func (g *granteeFlags) check() error {
	if (g.user == "") == (g.group == "") {
		return errors.New("give exactly one of --user and --group")
	}
	return nil
}

func (g *granteeFlags) value() accounts.Grantee {
	return accounts.Grantee{User: g.user, Group: g.group}
}

func grantList(ctx context.Context, e env, args []string) int {
	sp := spec{name: "grant list", args: "[FOLDER]", min: 0, max: 1,
		about: "Lists the grants on shared folder FOLDER, or on every shared folder."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		folder := ""
		if len(args) == 1 {
			folder = args[0]
		}
		grants, err := s.core.Accounts.ListGrants(ctx, s.actor, folder)
		if err != nil {
			return s.fail("cannot list grants", err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FOLDER\tGRANTEE\tPERMISSIONS")
		for _, g := range grants {
			who := accounts.Grantee{User: g.UserName, Group: g.GroupName}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", g.FolderName, who, authz.Perm(g.Perms))
		}
		tw.Flush()
		return exitOK
	})
}

func cmdToken(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "token", "Manages API tokens, with which programs use the REST API as a user.", []subcommand{
		{"create", "issue a token for a user (printed once, alone on standard output)", tokenCreate},
		{"list", "list a user's tokens (never their secrets)", tokenList},
		{"revoke", "revoke a token by its id", tokenRevoke},
	}, args)
}

func tokenCreate(ctx context.Context, e env, args []string) int {
	var name, expires string
	var ttl time.Duration
	sp := spec{name: "token create", args: "USER [--name N] [--expires 720h]", min: 1, max: 1,
		about: "Issues an API token for USER. The token is printed alone on the first line of standard\n" +
			"output, so that TOKEN=$(coffer token create alice) works; the details go to standard\n" +
			"error. It is shown only now: store it like a password.",
		check: func([]string) (err error) {
			if expires != "" {
				ttl, err = parseLifetime(expires)
			}
			return err
		}}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "a `NAME` that says what the token is for")
		fs.StringVar(&expires, "expires", "", "lifetime: a `DURATION` such as 720h or 30d (default 30d)")
	}, func(s *session, args []string) int {
		secret, tok, err := s.core.Accounts.CreateToken(ctx, s.actor, args[0], name, ttl)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot create a token for %q", printable(args[0])), err)
		}
		fmt.Fprintln(e.stdout, secret)
		fmt.Fprintf(e.stderr, "created API token %s for %q, valid until %s.\n", tok.ID, args[0], tok.Expires.Local().Format(time.RFC3339))
		fmt.Fprintf(e.stderr, "It is shown only now: store it like a password. Revoke it with 'coffer token revoke %s'.\n", tok.ID)
		return exitOK
	})
}

func tokenList(ctx context.Context, e env, args []string) int {
	sp := spec{name: "token list", args: "USER", min: 1, max: 1, about: "Lists USER's API tokens, oldest first. Secrets are never stored, so never shown."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		tokens, err := s.core.Accounts.ListTokens(ctx, s.actor, args[0])
		if err != nil {
			return s.fail(fmt.Sprintf("cannot list the tokens of %q", printable(args[0])), err)
		}
		now := time.Now()
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTATE\tCREATED\tEXPIRES\tLAST USED")
		for _, t := range tokens {
			state := "active"
			switch {
			case t.Revoked:
				state = "revoked"
			case !now.Before(t.Expires):
				state = "expired"
			}
			name := printable(t.Name)
			if name == "" {
				name = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, name, state, formatTime(t.Created), formatTime(t.Expires), formatTime(t.LastUsed))
		}
		tw.Flush()
		return exitOK
	})
}

func tokenRevoke(ctx context.Context, e env, args []string) int {
	sp := spec{name: "token revoke", args: "ID", min: 1, max: 1,
		about: "Revokes the API token with id ID (see 'coffer token list USER'); it stops working at once."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		id := strings.ToLower(args[0])
		if err := s.core.Accounts.RevokeToken(ctx, s.actor, id); err != nil {
			return s.fail(fmt.Sprintf("cannot revoke token %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "revoked token %s\n", id)
		return exitOK
	})
}

func cmdUnlock(ctx context.Context, e env, args []string) int {
	var userName, ip string
	var scope, subject string
	sp := spec{name: "unlock", args: "(--user NAME | --ip ADDR)",
		about: "Lifts the sign-in lockout of an account or a client address and forgets its failed\n" +
			"sign-ins. Lockouts end by themselves after a while; this ends one now.",
		check: func([]string) error {
			switch {
			case (userName == "") == (ip == ""):
				return errors.New("give exactly one of --user and --ip")
			case userName != "":
				scope, subject = "user", userName
			default:
				addr, err := netip.ParseAddr(ip)
				if err != nil {
					return fmt.Errorf("bad --ip %q: give an IPv4 or IPv6 address, as in the audit log", ip)
				}
				scope, subject = "ip", addr.String()
			}
			return nil
		}}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.StringVar(&userName, "user", "", "the account `NAME` to unlock")
		fs.StringVar(&ip, "ip", "", "the client `ADDR`ess to unlock")
	}, func(s *session, _ []string) int {
		what := "account " + printable(subject)
		if scope == "ip" {
			what = "address " + subject
		}
		until, err := s.core.DB.Q().LockoutUntil(ctx, scope, subject)
		if err != nil {
			return s.fail("cannot unlock "+what, err)
		}
		if err := s.core.Accounts.Unlock(ctx, s.actor, scope, subject); err != nil {
			return s.fail("cannot unlock "+what, err)
		}
		if until.After(time.Now()) {
			fmt.Fprintf(e.stdout, "unlocked %s (it was locked until %s)\n", what, until.Local().Format(time.DateTime))
		} else {
			fmt.Fprintf(e.stdout, "%s was not locked out; its failed sign-ins are forgotten\n", what)
		}
		return exitOK
	})
}
