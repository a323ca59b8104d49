package accounts_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

func authorizedLine(t *testing.T, pub any, comment string) (string, ssh.PublicKey) {
	t.Helper()
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " " + comment, k
}

func TestKeysAndKeyLogin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := dbtest.Open(t, dsn)
		keys, _ := crypt.NewKeyring()
		l := audit.New(d, keys)
		l.Init(ctx)
		au := auth.New(d, l, auth.DefaultPolicy)
		s := accounts.New(d, l, au)
		root := accounts.LocalAdmin("test")
		alice, _, _ := s.CreateUser(ctx, root, accounts.NewUser{Name: "alice", Password: "alice's long password"})
		s.CreateUser(ctx, root, accounts.NewUser{Name: "bob"})
		asAlice := auth.Principal{UserID: alice.ID, Name: "alice", Protocol: audit.HTTPS}
		c := auth.Client{IP: "192.0.2.1", Protocol: audit.SFTP}

		pubKey, _, _ := ed25519.GenerateKey(rand.Reader)
		line, pub := authorizedLine(t, pubKey, "alice@laptop")
		k, err := s.AddKey(ctx, asAlice, "alice", line)
		if err != nil || k.Fingerprint != ssh.FingerprintSHA256(pub) || k.Comment != "alice@laptop" {
			t.Fatalf("AddKey: %+v %v", k, err)
		}
		if p, err := au.PublicKey(ctx, "alice", pub, c); err != nil || p.UserID != alice.ID {
			t.Fatalf("key login: %+v %v", p, err)
		}
		if _, err := au.PublicKey(ctx, "bob", pub, c); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("alice's key signed in bob: %v", err)
		}
		other, _, _ := ed25519.GenerateKey(rand.Reader)
		otherPub, _ := ssh.NewPublicKey(other)
		if _, err := au.PublicKey(ctx, "alice", otherPub, c); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("unregistered key: %v", err)
		}
		// Bad input.
		weak, _ := rsa.GenerateKey(rand.Reader, 1024)
		weakLine, _ := authorizedLine(t, &weak.PublicKey, "")
		for name, bad := range map[string]string{
			"duplicate": line, "options": `command="/bin/sh" ` + line, "garbage": "ssh-ed25519 not-base64",
			"empty": "", "two keys": line + "\n" + line, "weak rsa": weakLine,
		} {
			if _, err := s.AddKey(ctx, root, "alice", bad); err == nil {
				t.Errorf("%s: accepted", name)
			}
		}
		if _, err := s.AddKey(ctx, asAlice, "bob", line); !errs.Is(errs.Permission, err) {
			t.Fatalf("alice added a key to bob: %v", err)
		}
		if ks, _ := s.ListKeys(ctx, asAlice, "alice"); len(ks) != 1 {
			t.Fatalf("keys: %v", ks)
		}
		// Password sign-in can be turned off per user; the key keeps working.
		off := false
		if _, err := s.UpdateUser(ctx, root, "alice", accounts.UserUpdate{PasswordLogin: &off}); err != nil {
			t.Fatal(err)
		}
		if _, err := au.Password(ctx, "alice", "alice's long password", c); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("password sign-in while turned off: %v", err)
		}
		if err := s.RemoveKey(ctx, asAlice, "alice", k.Fingerprint); err != nil {
			t.Fatal(err)
		}
		if _, err := au.PublicKey(ctx, "alice", pub, c); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("removed key still signs in: %v", err)
		}
	})
}
