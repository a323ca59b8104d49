// Package authz makes permission decisions. It is pure: no I/O, no database. The files
// layer gathers the facts (who, which folder, which grants) and asks here.
//
// The model: every user has a home folder in which they may do everything. Shared
// folders are reached only through grants, to the user or to a group they belong to;
// the permissions of all grants that reach a user are combined. Administrators manage
// accounts and grants but get no file access from their role: to read a shared folder
// an administrator grants it to themselves, which is audited like every grant.
package authz

import (
	"fmt"
	"strings"
)

// Perm is a set of permissions on a folder.
type Perm uint8

const (
	List   Perm = 1 << iota // see names, sizes, dates and digests
	Read                    // download contents
	Write                   // upload new files, replace files, make directories, rename within the folder
	Delete                  // remove files and directories, move them out of the folder
)

// All is every permission: what a user has in their home.
const All = List | Read | Write | Delete

var permNames = []struct {
	p    Perm
	name string
}{{List, "list"}, {Read, "read"}, {Write, "write"}, {Delete, "delete"}}

// ParsePerm reads a comma-separated list such as "list,read". "all" means every permission.
func ParsePerm(s string) (Perm, error) {
	var p Perm
	for _, word := range strings.Split(s, ",") {
		word = strings.ToLower(strings.TrimSpace(word))
		if word == "all" {
			p |= All
			continue
		}
		found := false
		for _, n := range permNames {
			if n.name == word {
				p |= n.p
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown permission %q (use list, read, write, delete or all)", word)
		}
	}
	if p == 0 {
		return 0, fmt.Errorf("no permission given (use list, read, write, delete or all)")
	}
	return p, nil
}

// String lists the permissions, e.g. "list,read"; "none" for the empty set.
func (p Perm) String() string {
	var names []string
	for _, n := range permNames {
		if p&n.p != 0 {
			names = append(names, n.name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}

// Names lists the permissions as separate words, for JSON.
func (p Perm) Names() []string {
	names := []string{}
	for _, n := range permNames {
		if p&n.p != 0 {
			names = append(names, n.name)
		}
	}
	return names
}

// Has reports whether p includes every permission in need.
func (p Perm) Has(need Perm) bool { return p&need == need }

// Subject is who asks.
type Subject struct {
	UserID   int64
	Admin    bool
	Disabled bool
}

// Folder is what the subject asks about: a folder and the permissions that grants give
// the subject on it (ignored for the subject's own home).
type Folder struct {
	ID      int64
	OwnerID int64 // the user whose home this is; 0 for a shared folder
	Granted Perm
}

// Allowed reports whether s may do need in f. A disabled user may do nothing.
func Allowed(s Subject, f Folder, need Perm) bool {
	if s.Disabled || s.UserID == 0 {
		return false
	}
	if f.OwnerID != 0 {
		return f.OwnerID == s.UserID
	}
	return f.Granted.Has(need)
}

// Effective returns what s may do in f.
func Effective(s Subject, f Folder) Perm {
	var p Perm
	for _, n := range permNames {
		if Allowed(s, f, n.p) {
			p |= n.p
		}
	}
	return p
}

// ManageAccounts reports whether s may create and change users, groups, folders and grants.
func ManageAccounts(s Subject) bool { return s.Admin && !s.Disabled && s.UserID != 0 }
