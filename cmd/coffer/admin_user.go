package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
)

func cmdUser(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "user", "Manages user accounts. Each user has a home folder in which they may do everything.", []subcommand{
		{"add", "create an account (prints a generated password once)", userAdd},
		{"list", "list accounts", userList},
		{"show", "show one account, its groups and shared folders", userShow},
		{"disable", "stop an account from signing in (its files are kept)", userDisable},
		{"enable", "let a disabled account sign in again", userEnable},
		{"passwd", "set a new password (generated unless --password-stdin)", userPasswd},
		{"admin", "give (--on) or take away (--off) the administrator role", userAdmin},
		{"quota", "set the quota of an account's home folder", userQuota},
		{"email", "set where an account's notifications are e-mailed", userEmail},
		{"key", "manage the SSH public keys of an account (add, list, remove)", cmdUserKey},
		{"password-login", "allow (--on) or forbid (--off) signing in with a password", userPasswordLogin},
		{"access", "limit the addresses and protocols (web, api, sftp) an account may use", userAccess},
		{"2fa", "show, reset or require two-factor sign-in (TOTP) for the web interface", cmdUser2FA},
		{"session", "list and end a user's web sessions", cmdUserSession},
	}, args)
}

const passwordStdinHelp = "read the password from the first line of standard input instead of generating one"

func userAdd(ctx context.Context, e env, args []string) int {
	var admin, fromStdin bool
	var quota sizeFlag
	sp := spec{name: "user add", args: "NAME [--admin] [--password-stdin] [--quota SIZE]", min: 1, max: 1,
		about: "Creates an account named NAME with a home folder. Unless --password-stdin is given, a\n" +
			"random password is generated and printed once: hand it to the user over a secure channel."}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&admin, "admin", false, "make the account an administrator")
		fs.BoolVar(&fromStdin, "password-stdin", false, passwordStdinHelp)
		fs.Var(&quota, "quota", "home folder `SIZE` limit: "+sizeHelp)
	}, func(s *session, args []string) int {
		name := args[0]
		nu := accounts.NewUser{Name: name, Admin: admin, Quota: quota.n}
		if fromStdin {
			var err error
			if nu.Password, err = readPassword(e.stdin); err != nil {
				return usageError(e, sp, err)
			}
		}
		u, password, err := s.core.Accounts.CreateUser(ctx, s.actor, nu)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot create user %q", printable(name)), err)
		}
		role := "user"
		if u.Admin {
			role = "administrator"
		}
		fmt.Fprintf(e.stdout, "created %s %q (quota %s)\n", role, u.Name, formatQuota(u.QuotaBytes))
		if !fromStdin {
			printPassword(e.stdout, u.Name, password)
		}
		return exitOK
	})
}

// printPassword shows a generated password, the one time it exists in clear text.
func printPassword(w io.Writer, name, password string) {
	fmt.Fprintf(w, "password: %s\n", password)
	fmt.Fprintf(w, "This password is shown only now: hand it to %s over a secure channel (not in the same e-mail as the user name).\n", name)
}

// readPassword reads one line from r, without its line ending.
func readPassword(r io.Reader) (string, error) {
	if r == nil {
		return "", errors.New("--password-stdin: no standard input")
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("--password-stdin: cannot read standard input: %v", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("--password-stdin: standard input holds no password (give it on the first line)")
	}
	return line, nil
}

func userList(ctx context.Context, e env, args []string) int {
	sp := spec{name: "user list", args: "", about: "Lists all accounts in name order."}
	return withCore(ctx, e, sp, args, nil, func(s *session, _ []string) int {
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tADMIN\tDISABLED\tQUOTA\tUSED\tCREATED")
		after := ""
		for {
			users, err := s.core.Accounts.ListUsers(ctx, s.actor, after, 1000)
			if err != nil {
				return s.fail("cannot list users", err)
			}
			for _, u := range users {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, yesNo(u.Admin), yesNo(u.Disabled),
					formatQuota(u.QuotaBytes), formatSize(u.UsedBytes), formatTime(u.Created))
			}
			if len(users) < 1000 {
				break
			}
			after = users[len(users)-1].Name
		}
		tw.Flush()
		return exitOK
	})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func userShow(ctx context.Context, e env, args []string) int {
	sp := spec{name: "user show", args: "NAME", min: 1, max: 1,
		about: "Shows an account: its role, state (disabled, suspended, locked out), how it signs in\n" +
			"(password, SSH keys, two-factor), its quota, groups, the shared folders granted to it,\n" +
			"its allowed addresses and protocols, and how many web sessions it has."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		u, err := s.core.Accounts.User(ctx, s.actor, args[0])
		if err != nil {
			return s.fail(fmt.Sprintf("cannot show user %q", printable(args[0])), err)
		}
		q := s.core.DB.Q()
		groups, err := q.UserGroups(ctx, u.ID)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot read the groups of %q", u.Name), err)
		}
		access, err := q.GrantsForUser(ctx, u.ID)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot read the grants of %q", u.Name), err)
		}
		tf, err := s.core.Accounts.TwoFactor(ctx, s.actor, u.Name)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot read the two-factor sign-in of %q", u.Name), err)
		}
		sessions, err := s.core.Accounts.ListSessions(ctx, s.actor, u.Name)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot read the web sessions of %q", u.Name), err)
		}
		keys, err := s.core.Accounts.ListKeys(ctx, s.actor, u.Name)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot read the SSH keys of %q", u.Name), err)
		}
		locked, err := q.LockoutUntil(ctx, "user", u.Name)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot read the lockout of %q", u.Name), err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "name:\t%s\n", u.Name)
		fmt.Fprintf(tw, "administrator:\t%s\n", yesNo(u.Admin))
		fmt.Fprintf(tw, "disabled:\t%s\n", yesNo(u.Disabled))
		if !u.Suspended.IsZero() {
			fmt.Fprintf(tw, "suspended:\tsince %s, by a tripwire (docs/tripwires.md): it cannot sign in until an administrator lifts it\n", formatTime(u.Suspended))
		}
		fmt.Fprintf(tw, "locked out:\t%s\n", describeLockout(locked, time.Now(), u.Name))
		fmt.Fprintf(tw, "password sign-in:\t%s\n", describePasswordLogin(u))
		fmt.Fprintf(tw, "SSH keys:\t%s\n", describeKeys(keys))
		fmt.Fprintf(tw, "quota:\t%s\n", formatQuota(u.QuotaBytes))
		fmt.Fprintf(tw, "used:\t%s\n", formatSize(u.UsedBytes))
		fmt.Fprintf(tw, "created:\t%s\n", formatTime(u.Created))
		fmt.Fprintf(tw, "updated:\t%s\n", formatTime(u.Updated))
		fmt.Fprintf(tw, "groups:\t%s\n", listOrNone(groups))
		fmt.Fprintf(tw, "shared folders:\t%s\n", listOrNone(folderAccess(access)))
		fmt.Fprintf(tw, "two-factor sign-in:\t%s\n", describe2FA(tf))
		fmt.Fprintf(tw, "allowed addresses:\t%s\n", orAll(u.AllowedIPs, "anywhere"))
		fmt.Fprintf(tw, "protocols:\t%s\n", orAll(u.Protocols, "all"))
		fmt.Fprintf(tw, "web sessions:\t%d\n", len(sessions))
		tw.Flush()
		return exitOK
	})
}

// describeLockout says whether an account's lockout (too many wrong passwords) is on at now.
func describeLockout(until, now time.Time, name string) string {
	if !until.After(now) {
		return "no"
	}
	return fmt.Sprintf("until %s: passwords are refused, SSH keys and API tokens still work (coffer unlock --user %s)", formatTime(until), printable(name))
}

// describePasswordLogin says whether a password signs u in.
func describePasswordLogin(u db.User) string {
	switch {
	case u.PasswordHash == "":
		return "no password set"
	case !u.PasswordLogin:
		return "off: SSH keys (and API tokens) only"
	}
	return "on"
}

// describeKeys lists the fingerprints of a user's SSH keys.
func describeKeys(keys []db.UserKey) string {
	var fps []string
	for _, k := range keys {
		fps = append(fps, k.Fingerprint)
	}
	if len(fps) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d: %s", len(fps), strings.Join(fps, ", "))
}

// folderAccess combines the grants that reach a user into "folder (perms)" entries.
func folderAccess(access []db.FolderAccess) []string {
	perms := map[string]authz.Perm{}
	for _, a := range access {
		perms[a.FolderName] |= authz.Perm(a.Perms)
	}
	var out []string
	for _, name := range sortedKeys(perms) {
		out = append(out, fmt.Sprintf("%s (%s)", printable(name), perms[name]))
	}
	return out
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}

func userDisable(ctx context.Context, e env, args []string) int {
	return setDisabled(ctx, e, args, true)
}

func userEnable(ctx context.Context, e env, args []string) int {
	return setDisabled(ctx, e, args, false)
}

func setDisabled(ctx context.Context, e env, args []string, disabled bool) int {
	sp := spec{name: "user enable", args: "NAME", min: 1, max: 1,
		about: "Lets a disabled account sign in again."}
	verb := "enable"
	if disabled {
		verb = "disable"
		sp.name = "user disable"
		sp.about = "Stops an account from signing in and from using its API tokens. Its files and grants\n" +
			"are kept; 'coffer user enable' undoes this. The last enabled administrator cannot be disabled."
	}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		if _, err := s.core.Accounts.UpdateUser(ctx, s.actor, args[0], accounts.UserUpdate{Disabled: &disabled}); err != nil {
			return s.fail(fmt.Sprintf("cannot %s user %q", verb, printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "%sd user %q\n", verb, args[0])
		return exitOK
	})
}

func userPasswd(ctx context.Context, e env, args []string) int {
	var fromStdin bool
	sp := spec{name: "user passwd", args: "NAME [--password-stdin]", min: 1, max: 1,
		about: "Sets a new password for NAME. Unless --password-stdin is given, a random password is\n" +
			"generated and printed once: hand it to the user over a secure channel."}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&fromStdin, "password-stdin", false, passwordStdinHelp)
	}, func(s *session, args []string) int {
		var password string
		if fromStdin {
			var err error
			if password, err = readPassword(e.stdin); err != nil {
				return usageError(e, sp, err)
			}
		} else {
			password = auth.RandomPassword()
		}
		u, err := s.core.Accounts.UpdateUser(ctx, s.actor, args[0], accounts.UserUpdate{Password: &password})
		if err != nil {
			return s.fail(fmt.Sprintf("cannot set the password of %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "set a new password for %q\n", u.Name)
		if !fromStdin {
			printPassword(e.stdout, u.Name, password)
		}
		return exitOK
	})
}

func userAdmin(ctx context.Context, e env, args []string) int {
	var on, off bool
	sp := spec{name: "user admin", args: "NAME (--on | --off)", min: 1, max: 1,
		about: "Gives NAME the administrator role (--on) or takes it away (--off). Administrators manage\n" +
			"accounts and grants; they get no file access from the role. The last enabled\n" +
			"administrator cannot be demoted."}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.BoolVar(&on, "on", false, "make NAME an administrator")
		fs.BoolVar(&off, "off", false, "make NAME an ordinary user")
	}, func(s *session, args []string) int {
		if on == off {
			return usageError(e, sp, errors.New("give exactly one of --on and --off"))
		}
		if _, err := s.core.Accounts.UpdateUser(ctx, s.actor, args[0], accounts.UserUpdate{Admin: &on}); err != nil {
			return s.fail(fmt.Sprintf("cannot change the role of %q", printable(args[0])), err)
		}
		if on {
			fmt.Fprintf(e.stdout, "%q is now an administrator\n", args[0])
		} else {
			fmt.Fprintf(e.stdout, "%q is no longer an administrator\n", args[0])
		}
		return exitOK
	})
}

func userQuota(ctx context.Context, e env, args []string) int {
	var quota int64
	sp := spec{name: "user quota", args: "NAME SIZE", min: 2, max: 2,
		about: "Sets the quota of NAME's home folder. SIZE is " + sizeHelp + ".\n" +
			"Lowering a quota below what is stored deletes nothing; it only blocks new uploads.",
		check: func(args []string) (err error) { quota, err = parseSize(args[1]); return err }}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		u, err := s.core.Accounts.UpdateUser(ctx, s.actor, args[0], accounts.UserUpdate{Quota: &quota})
		if err != nil {
			return s.fail(fmt.Sprintf("cannot set the quota of %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "quota of %q: %s (using %s)\n", u.Name, formatQuota(u.QuotaBytes), formatSize(u.UsedBytes))
		return exitOK
	})
}

func userEmail(ctx context.Context, e env, args []string) int {
	sp := spec{name: "user email", args: "NAME ADDRESS", min: 2, max: 2,
		about: "Sets the address NAME's notifications go to (\"your parcel was downloaded\", \"files arrived\n" +
			"for your request\"; docs/notify.md). An empty ADDRESS (\"\") stops them."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		if _, err := s.core.Accounts.UpdateUser(ctx, s.actor, args[0], accounts.UserUpdate{Email: &args[1]}); err != nil {
			return s.fail(fmt.Sprintf("cannot set the e-mail address of %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "notifications of %q go to %q\n", args[0], args[1])
		return exitOK
	})
}
