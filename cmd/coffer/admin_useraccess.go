package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/coffer-mft/coffer/internal/accounts"
)

func userAccess(ctx context.Context, e env, args []string) int {
	var up accounts.UserUpdate
	sp := spec{name: "user access", args: "NAME [--allowed-ips LIST] [--protocols LIST]", min: 1, max: 1,
		about: "Limits where and how NAME may sign in, checked at every sign-in and every use of a\n" +
			"token or web session. An empty LIST lifts the limit (\"\" = anywhere, all protocols)."}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.Func("allowed-ips", "comma-separated CIDR prefixes or addresses NAME may sign in from (e.g. 10.0.0.0/8,192.0.2.7)",
			func(v string) error { up.AllowedIPs = &v; return nil })
		fs.Func("protocols", "comma-separated subset of web, api and sftp that NAME may use",
			func(v string) error { up.Protocols = &v; return nil })
	}, func(s *session, args []string) int {
		if up.AllowedIPs == nil && up.Protocols == nil {
			return usageError(e, sp, errors.New("give --allowed-ips, --protocols or both"))
		}
		u, err := s.core.Accounts.UpdateUser(ctx, s.actor, args[0], up)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot change the access limits of %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "%q may sign in from %s, over %s\n", u.Name, orAll(u.AllowedIPs, "anywhere"), orAll(u.Protocols, "all protocols"))
		return exitOK
	})
}

func orAll(list, all string) string {
	if list == "" {
		return all
	}
	return list
}
