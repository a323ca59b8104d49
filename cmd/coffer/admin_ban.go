package main

import (
	"context"
	"fmt"
	"text/tabwriter"
)

func cmdBan(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "ban", "Lists and lifts the defender's bans of client addresses (after repeated failed or\n"+
		"suspicious requests over any protocol; each ban of an address lasts twice as long as its last).", []subcommand{
		{"list", "list the bans in force", banList},
		{"lift", "end the ban of an address now", banLift},
	}, args)
}

func banList(ctx context.Context, e env, args []string) int {
	sp := spec{name: "ban list", about: "Lists the bans in force, the longest first."}
	return withCore(ctx, e, sp, args, nil, func(s *session, _ []string) int {
		bans, err := s.core.Accounts.Bans(ctx, s.actor)
		if err != nil {
			return s.fail("cannot list the bans", err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ADDRESS\tUNTIL\tBAN\tSINCE\tREASON")
		for _, b := range bans {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", b.IP, formatTime(b.Until), b.Strikes, formatTime(b.Created), printable(b.Reason))
		}
		tw.Flush()
		return exitOK
	})
}

func banLift(ctx context.Context, e env, args []string) int {
	sp := spec{name: "ban lift", args: "ADDR", min: 1, max: 1,
		about: "Ends the ban of client address ADDR now and forgets its earlier bans, so that a\n" +
			"later ban starts again at the shortest length. Audited as defender.unban."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		if err := s.core.Accounts.LiftBan(ctx, s.actor, args[0]); err != nil {
			return s.fail(fmt.Sprintf("cannot lift the ban of %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "lifted the ban of %s\n", args[0])
		return exitOK
	})
}
