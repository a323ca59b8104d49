package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
)

func cmdGroup(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "group", "Manages groups. A grant to a group reaches every member.", []subcommand{
		{"add", "create a group", groupAdd},
		{"list", "list groups with their members", groupList},
		{"delete", "delete a group, its memberships and its grants", groupDelete},
		{"member", "add or remove a member: member add|remove GROUP USER", groupMember},
	}, args)
}

func groupAdd(ctx context.Context, e env, args []string) int {
	sp := spec{name: "group add", args: "NAME", min: 1, max: 1, about: "Creates an empty group."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		g, err := s.core.Accounts.CreateGroup(ctx, s.actor, args[0])
		if err != nil {
			return s.fail(fmt.Sprintf("cannot create group %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "created group %q\n", g.Name)
		return exitOK
	})
}

func groupList(ctx context.Context, e env, args []string) int {
	sp := spec{name: "group list", about: "Lists all groups in name order, with their members."}
	return withCore(ctx, e, sp, args, nil, func(s *session, _ []string) int {
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "GROUP\tMEMBERS\tCREATED")
		after := ""
		for {
			groups, members, err := s.core.Accounts.ListGroups(ctx, s.actor, after, 1000)
			if err != nil {
				return s.fail("cannot list groups", err)
			}
			for _, g := range groups {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Name, listOrNone(members[g.Name]), formatTime(g.Created))
			}
			if len(groups) < 1000 {
				break
			}
			after = groups[len(groups)-1].Name
		}
		tw.Flush()
		return exitOK
	})
}

func groupDelete(ctx context.Context, e env, args []string) int {
	sp := spec{name: "group delete", args: "NAME", min: 1, max: 1,
		about: "Deletes a group. Its members lose the access its grants gave them; their accounts stay."}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		if err := s.core.Accounts.DeleteGroup(ctx, s.actor, args[0]); err != nil {
			return s.fail(fmt.Sprintf("cannot delete group %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "deleted group %q\n", args[0])
		return exitOK
	})
}

func groupMember(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "group member", "Adds users to groups and removes them.", []subcommand{
		{"add", "add USER to GROUP: group member add GROUP USER", func(ctx context.Context, e env, args []string) int {
			return setMember(ctx, e, args, true)
		}},
		{"remove", "remove USER from GROUP: group member remove GROUP USER", func(ctx context.Context, e env, args []string) int {
			return setMember(ctx, e, args, false)
		}},
	}, args)
}

func setMember(ctx context.Context, e env, args []string, member bool) int {
	sp := spec{name: "group member add", args: "GROUP USER", min: 2, max: 2,
		about: "Adds USER to GROUP. Adding a member twice is not an error."}
	if !member {
		sp.name, sp.about = "group member remove", "Removes USER from GROUP."
	}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		group, user := args[0], args[1]
		if err := s.core.Accounts.SetMember(ctx, s.actor, group, user, member); err != nil {
			verb := "add %q to group %q"
			if !member {
				verb = "remove %q from group %q"
			}
			return s.fail("cannot "+fmt.Sprintf(verb, printable(user), printable(group)), err)
		}
		if member {
			fmt.Fprintf(e.stdout, "added %q to group %q\n", user, group)
		} else {
			fmt.Fprintf(e.stdout, "removed %q from group %q\n", user, group)
		}
		return exitOK
	})
}

func cmdFolder(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "folder", "Manages shared folders. Users reach a shared folder only through grants\n"+
		"('coffer grant'); administrators too.", []subcommand{
		{"add", "create a shared folder", folderAdd},
		{"list", "list shared folders", folderList},
		{"quota", "set the quota of a shared folder", folderQuota},
	}, args)
}

func folderAdd(ctx context.Context, e env, args []string) int {
	var quota sizeFlag
	sp := spec{name: "folder add", args: "NAME [--quota SIZE]", min: 1, max: 1,
		about: "Creates a shared folder. Nobody can use it until it is granted with 'coffer grant'."}
	return withCore(ctx, e, sp, args, func(fs *flag.FlagSet) {
		fs.Var(&quota, "quota", "folder `SIZE` limit: "+sizeHelp)
	}, func(s *session, args []string) int {
		f, err := s.core.Accounts.CreateFolder(ctx, s.actor, args[0], quota.n)
		if err != nil {
			return s.fail(fmt.Sprintf("cannot create shared folder %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "created shared folder %q (quota %s)\n", f.Name, formatQuota(f.QuotaBytes))
		return exitOK
	})
}

func folderList(ctx context.Context, e env, args []string) int {
	sp := spec{name: "folder list", about: "Lists all shared folders in name order."}
	return withCore(ctx, e, sp, args, nil, func(s *session, _ []string) int {
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FOLDER\tQUOTA\tUSED\tCREATED")
		after := ""
		for {
			folders, err := s.core.Accounts.ListFolders(ctx, s.actor, after, 1000)
			if err != nil {
				return s.fail("cannot list shared folders", err)
			}
			for _, f := range folders {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Name, formatQuota(f.QuotaBytes), formatSize(f.UsedBytes), formatTime(f.Created))
			}
			if len(folders) < 1000 {
				break
			}
			after = folders[len(folders)-1].Name
		}
		tw.Flush()
		return exitOK
	})
}

func folderQuota(ctx context.Context, e env, args []string) int {
	var quota int64
	sp := spec{name: "folder quota", args: "NAME SIZE", min: 2, max: 2,
		about: "Sets the quota of a shared folder. SIZE is " + sizeHelp + ".\n" +
			"Lowering a quota below what is stored deletes nothing; it only blocks new uploads.",
		check: func(args []string) (err error) { quota, err = parseSize(args[1]); return err }}
	return withCore(ctx, e, sp, args, nil, func(s *session, args []string) int {
		if err := s.core.Accounts.SetFolderQuota(ctx, s.actor, args[0], quota); err != nil {
			return s.fail(fmt.Sprintf("cannot set the quota of shared folder %q", printable(args[0])), err)
		}
		fmt.Fprintf(e.stdout, "quota of shared folder %q: %s\n", args[0], formatQuota(quota))
		return exitOK
	})
}
