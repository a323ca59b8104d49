package authz

import "testing"

func TestAllowed(t *testing.T) {
	alice := Subject{UserID: 1}
	bob := Subject{UserID: 2}
	admin := Subject{UserID: 3, Admin: true}
	disabled := Subject{UserID: 1, Disabled: true}
	home := Folder{ID: 10, OwnerID: 1}
	shared := Folder{ID: 20, Granted: List | Read}
	cases := []struct {
		name string
		s    Subject
		f    Folder
		need Perm
		want bool
	}{
		{"owner reads own home", alice, home, Read, true},
		{"owner deletes in own home", alice, home, Delete | Write, true},
		{"other user cannot list a home", bob, home, List, false},
		{"admin role gives no file access to a home", admin, home, Read, false},
		{"admin role gives no file access to a shared folder", admin, Folder{ID: 20}, List, false},
		{"disabled owner does nothing", disabled, home, List, false},
		{"anonymous does nothing", Subject{}, shared, List, false},
		{"grantee lists", bob, shared, List, true},
		{"grantee reads", bob, shared, Read, true},
		{"grantee without write", bob, shared, Write, false},
		{"grantee needs all of a set", bob, shared, Read | Delete, false},
		{"no grant", bob, Folder{ID: 21}, List, false},
	}
	for _, c := range cases {
		if got := Allowed(c.s, c.f, c.need); got != c.want {
			t.Errorf("%s: Allowed = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestParsePerm(t *testing.T) {
	for in, want := range map[string]Perm{"list": List, "list,read": List | Read, " Write , DELETE": Write | Delete, "all": All} {
		got, err := ParsePerm(in)
		if err != nil || got != want {
			t.Errorf("ParsePerm(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "execute", "list,,read", "list;read"} {
		if _, err := ParsePerm(bad); err == nil {
			t.Errorf("ParsePerm(%q) succeeded", bad)
		}
	}
	if s := (List | Delete).String(); s != "list,delete" {
		t.Errorf("String = %q", s)
	}
}

func TestManageAccounts(t *testing.T) {
	if !ManageAccounts(Subject{UserID: 1, Admin: true}) || ManageAccounts(Subject{UserID: 1}) || ManageAccounts(Subject{UserID: 1, Admin: true, Disabled: true}) {
		t.Fatal("ManageAccounts wrong")
	}
}
