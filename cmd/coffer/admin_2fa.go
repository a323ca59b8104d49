package main

// Two-factor sign-in and web sessions: 'user 2fa', 'user session' and 'settings'.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/auth"
)

func cmdUser2FA(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "user 2fa", "Manages a user's two-factor sign-in (TOTP) for the web interface.\n"+
		"Users set it up themselves on the web; administrators can require it and reset it.", []subcommand{
		{"show", "show whether a user has two-factor sign-in and must have it", user2FAShow},
		{"reset", "remove a user's TOTP key and recovery codes (a lost phone)", user2FAReset},
		{"require", "require (on) or stop requiring (off) two-factor sign-in of a user", user2FARequire},
	}, args)
}

// onOff reads the state an on|off command sets: the positional argument at i, or the
// --on and --off flags of the other on/off commands ('user admin'); exactly one.
type onOff struct{ on, off bool }

func (o *onOff) register(fs *flag.FlagSet, onHelp, offHelp string) {
	fs.BoolVar(&o.on, "on", false, onHelp+" (same as the argument on)")
	fs.BoolVar(&o.off, "off", false, offHelp+" (same as the argument off)")
}

func (o *onOff) check(args []string, i int) error {
	n := 0
	for _, set := range []bool{o.on, o.off} {
		if set {
			n++
		}
	}
	if len(args) > i {
		switch args[i] {
		case "on":
			o.on = true
		case "off":
			o.off = true
		default:
			return fmt.Errorf("%q: give on or off", args[i])
		}
		n++
	}
	if n != 1 {
		return errors.New("give exactly one of on and off")
	}
	return nil
}

func describe2FA(tf accounts.TwoFactor) string {
	var s string
	switch {
	case tf.Active():
		s = fmt.Sprintf("on since %s (%d recovery codes left)", formatTime(tf.Enrolled), tf.RecoveryLeft)
	case tf.Pending:
		s = "off (set-up begun, not confirmed)"
	default:
		s = "off"
	}
	switch {
	case tf.RequiredOfUser && tf.RequiredOfAll:
		s += "; required of this user and of all users"
	case tf.RequiredOfUser:
		s += "; required of this user"
	case tf.RequiredOfAll:
		s += "; required of all users"
	}
	if tf.Required() && !tf.Active() {
		s += ": it must be set up at the next web sign-in"
	}
	return s
}

func user2FAShow(ctx context.Context, e env, args []string) int {
	sp := spec{name: "user 2fa show", args: "NAME", min: 1, max: 1,
		about: "Shows whether NAME signs in to the web interface with a second factor (TOTP), how many\n" +
			"recovery codes are left, and whether an administrator requires it."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		tf, err := s.core.Accounts.TwoFactor(ctx, s.actor, args[0])
		if err != nil {
			return s.fail(fmt.Sprintf("cannot show the two-factor sign-in of %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "two-factor sign-in of %q: %s\n", args[0], describe2FA(tf))
		return exitOK
	})
}

func user2FAReset(ctx context.Context, e env, args []string) int {
	sp := spec{name: "user 2fa reset", args: "NAME", min: 1, max: 1,
		about: "Removes NAME's TOTP key and recovery codes, for a user who lost their phone, and ends all\n" +
			"their web sessions. Make sure that it is really NAME who asks. If two-factor sign-in is\n" +
			"required of NAME, their next web sign-in sets it up again; otherwise they sign in with\n" +
			"the password alone."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		name := args[0]
		before, err := s.core.Accounts.TwoFactor(ctx, s.actor, name)
		if err == nil {
			err = s.core.Accounts.ResetTOTP(ctx, s.actor, name)
		}
		if err != nil {
			return s.fail(fmt.Sprintf("cannot reset the two-factor sign-in of %q", printable(name)), err)
		}
		if before.Active() || before.Pending {
			fmt.Fprintf(e.stdout, "reset two-factor sign-in of %q: TOTP key and recovery codes removed, web sessions ended\n", name)
		} else {
			fmt.Fprintf(e.stdout, "%q had no two-factor sign-in; their web sessions were ended\n", name)
		}
		if before.Required() {
			fmt.Fprintf(e.stdout, "It is required of %q: their next web sign-in sets it up again.\n", name)
		}
		return exitOK
	})
}

func user2FARequire(ctx context.Context, e env, args []string) int {
	var o onOff
	sp := spec{name: "user 2fa require", args: "NAME (on | off)", min: 1, max: 2,
		about: "Requires (on) or stops requiring (off) two-factor sign-in of NAME on the web interface.\n" +
			"With on, NAME's web sessions end unless NAME has two-factor sign-in already, and the next\n" +
			"sign-in can do nothing but set it up. 'coffer settings require-2fa on' requires it of all.",
		check: func(args []string) error { return o.check(args, 1) }}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		o.register(fs, "require two-factor sign-in", "stop requiring it")
	}, func(s *session, args []string) int {
		name := args[0]
		if err := s.core.Accounts.Require2FA(ctx, s.actor, name, o.on); err != nil {
			return s.fail(fmt.Sprintf("cannot change whether two-factor sign-in is required of %q", printable(name)), err)
		}
		tf, err := s.core.Accounts.TwoFactor(ctx, s.actor, name)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot show the two-factor sign-in of %q", printable(name)), err)
		}
		if o.on {
			fmt.Fprintf(e.stdout, "two-factor sign-in is now required of %q\n", name)
		} else {
			fmt.Fprintf(e.stdout, "two-factor sign-in is no longer required of %q by name\n", name)
		}
		fmt.Fprintf(e.stdout, "now: %s\n", describe2FA(tf))
		return exitOK
	})
}

func cmdUserSession(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "user session", "Lists and ends a user's sessions on the web interface.", []subcommand{
		{"list", "list a user's web sessions", userSessionList},
		{"end", "end a web session by its id (the user must sign in again)", userSessionEnd},
	}, args)
}

func userSessionList(ctx context.Context, e env, args []string) int {
	sp := spec{name: "user session list", args: "NAME", min: 1, max: 1,
		about: "Lists NAME's web sessions: id, state, how and when they signed in, when they were last\n" +
			"seen, when they expire, and from which address and browser. Expired sessions are listed\n" +
			"until the server prunes them."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		list, err := s.core.Accounts.ListSessions(ctx, s.actor, args[0])
		if err != nil {
			return s.fail(fmt.Sprintf("cannot list the sessions of %q", printable(args[0])), err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSTATE\tMETHOD\tSIGNED IN\tLAST SEEN\tEXPIRES\tADDRESS\tBROWSER")
		for _, ws := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ws.ID, sessionState(ws.State), ws.Method,
				formatTime(ws.Created), formatTime(ws.LastSeen), formatTime(ws.Expires), printable(ws.SourceIP), printable(clipText(ws.UserAgent, 40)))
		}
		tw.Flush()
		return exitOK
	})
}

func sessionState(st auth.SessionState) string {
	switch st {
	case auth.StateComplete:
		return "signed-in"
	case auth.StateSecondFactor:
		return "awaiting-2fa"
	case auth.StateMustEnrol:
		return "must-enrol"
	}
	return string(st)
}

func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func userSessionEnd(ctx context.Context, e env, args []string) int {
	sp := spec{name: "user session end", args: "ID", min: 1, max: 1,
		about: "Ends the web session ID (as 'coffer user session list NAME' shows it): its browser must\n" +
			"sign in again. To end all of a user's sessions, set a new password ('coffer user passwd')\n" +
			"or disable the account."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		if err := s.core.Accounts.EndSession(ctx, s.actor, args[0]); err != nil {
			return s.fail(fmt.Sprintf("cannot end session %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "ended session %s\n", args[0])
		return exitOK
	})
}

func cmdSettings(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "settings", "Shows and changes server-wide settings kept in the database (all nodes share them).", []subcommand{
		{"show", "show the settings", settingsShow},
		{"require-2fa", "require (on) or stop requiring (off) two-factor sign-in of every user", settingsRequire2FA},
	}, args)
}

func settingsShow(ctx context.Context, e env, args []string) int {
	sp := spec{name: "settings show", args: "", about: "Shows the server-wide settings."}
	return withCore(ctx, e, sp, args, nil, func(s *session, _ []string) int {
		st, err := s.core.Accounts.Settings(ctx, s.actor)
		if err != nil {
			return s.fail("cannot read the settings", err)
		}
		fmt.Fprintf(e.stdout, "require-2fa: %s\n", map[bool]string{true: "on", false: "off"}[st.Require2FA])
		return exitOK
	})
}

func settingsRequire2FA(ctx context.Context, e env, args []string) int {
	var o onOff
	sp := spec{name: "settings require-2fa", args: "(on | off)", min: 0, max: 1,
		about: "Requires (on) or stops requiring (off) two-factor sign-in (TOTP) of every user of the web\n" +
			"interface. With on, the web sessions of users without it end, and their next sign-in can\n" +
			"do nothing but set it up. 'coffer user 2fa require NAME on' requires it of one user.",
		check: func(args []string) error { return o.check(args, 0) }}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		o.register(fs, "require two-factor sign-in of every user", "stop requiring it of every user")
	}, func(s *session, _ []string) int {
		if err := s.core.Accounts.Require2FAForAll(ctx, s.actor, o.on); err != nil {
			return s.fail("cannot change whether two-factor sign-in is required", err)
		}
		if o.on {
			fmt.Fprintln(e.stdout, "two-factor sign-in is now required of every user")
		} else {
			fmt.Fprintln(e.stdout, "two-factor sign-in is no longer required of every user (it stays required of users for whom 'coffer user 2fa require' set it)")
		}
		return exitOK
	})
}
