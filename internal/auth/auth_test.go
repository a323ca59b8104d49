package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"golang.org/x/crypto/ssh"
)

type fixture struct {
	s     *auth.Service
	d     *db.DB
	dsn   string
	keys  *crypt.Keyring
	log   *audit.Log
	now   time.Time
	alice db.User
}

func setup(t *testing.T, dsn string) *fixture {
	t.Helper()
	ctx := context.Background()
	d := dbtest.Open(t, dsn)
	keys, _ := crypt.NewKeyring()
	l := audit.New(d, keys)
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := auth.HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := d.Q().CreateUser(ctx, db.NewUser{Name: "alice", PasswordHash: h})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{s: auth.New(d, l, auth.DefaultPolicy), d: d, dsn: dsn, keys: keys, log: l, now: time.Now(), alice: alice}
	f.s.SetClock(func() time.Time { return f.now })
	return f
}

func TestPasswordAndLockout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		f := setup(t, dsn)
		c := auth.Client{IP: "192.0.2.7", Protocol: audit.HTTPS}
		p, err := f.s.Password(ctx, "alice", "correct horse battery", c)
		if err != nil || p.Name != "alice" || p.UserID != f.alice.ID {
			t.Fatalf("good password: %+v %v", p, err)
		}
		_, errUnknown := f.s.Password(ctx, "nobody", "x", c)
		_, errWrong := f.s.Password(ctx, "alice", "wrong", c)
		if !errs.Is(errs.Unauthenticated, errWrong) || errs.Detail(errUnknown) != errs.Detail(errWrong) {
			t.Fatalf("unknown user and wrong password must look alike: %v / %v", errUnknown, errWrong)
		}
		for range 4 {
			f.s.Password(ctx, "alice", "wrong", c)
		}
		// Fifth failure within the window locks the account: even the right password fails.
		_, err = f.s.Password(ctx, "alice", "correct horse battery", c)
		if !errs.Is(errs.Locked, err) || !strings.Contains(err.Error(), "locked until") {
			t.Fatalf("after 5 failures: %v", err)
		}
		// The lock is per account: another address is locked out of alice too...
		if _, err := f.s.Password(ctx, "alice", "correct horse battery", auth.Client{IP: "198.51.100.1"}); !errs.Is(errs.Locked, err) {
			t.Fatalf("other address: %v", err)
		}
		// ...and it expires.
		f.now = f.now.Add(16 * time.Minute)
		if _, err := f.s.Password(ctx, "alice", "correct horse battery", c); err != nil {
			t.Fatalf("after the lock expired: %v", err)
		}
		rep, _ := f.log.Verify(ctx, nil)
		if !rep.OK() || rep.Records < 8 {
			t.Fatalf("audit: %+v", rep)
		}
		recs, _ := f.d.Q().AuditQuery(ctx, db.AuditFilter{Action: audit.ActLockout}, 10)
		if len(recs) != 1 || recs[0].Path != "user:alice" {
			t.Fatalf("lockout not audited once: %+v", recs)
		}
	})
}

// An account's lockout refuses its password, not its SSH key: five wrong passwords sent
// by anyone who knows the name must not stop the owner's key (a partner's nightly job).
// The address's lockout refuses everything from the address, keys too.
func TestKeySignInAndLockouts(t *testing.T) {
	ctx := context.Background()
	f := setup(t, dbtest.SQLiteDSN(t))
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.Q().InsertUserKey(ctx, db.UserKey{UserID: f.alice.ID, Fingerprint: ssh.FingerprintSHA256(pub),
		KeyType: pub.Type(), PublicKey: pub.Marshal(), Created: f.now}); err != nil {
		t.Fatal(err)
	}
	attacker := auth.Client{IP: "203.0.113.9", Protocol: audit.SFTP}
	partner := auth.Client{IP: "192.0.2.7", Protocol: audit.SFTP}
	for range 5 {
		f.s.Password(ctx, "alice", "wrong", attacker)
	}
	if _, err := f.s.Password(ctx, "alice", "correct horse battery", partner); !errs.Is(errs.Locked, err) {
		t.Fatalf("password of a locked account: %v", err)
	}
	if p, err := f.s.PublicKey(ctx, "alice", pub, partner); err != nil || p.UserID != f.alice.ID {
		t.Fatalf("key of a locked account: %+v %v", p, err)
	}
	// The attacker's address goes on guessing, other names, until it is locked out
	// itself: then its keys are refused too.
	for i := range 15 {
		f.s.Password(ctx, fmt.Sprintf("guess%d", i), "wrong", attacker)
	}
	if _, err := f.s.PublicKey(ctx, "alice", pub, attacker); !errs.Is(errs.Locked, err) || !strings.Contains(err.Error(), "address 203.0.113.9") {
		t.Fatalf("key from a locked-out address: %v", err)
	}
	if _, err := f.s.PublicKey(ctx, "alice", pub, partner); err != nil {
		t.Fatalf("key from another address: %v", err)
	}
}

func TestIPLockoutAcrossNames(t *testing.T) {
	ctx := context.Background()
	f := setup(t, dbtest.SQLiteDSN(t))
	c := auth.Client{IP: "203.0.113.9", Protocol: audit.HTTPS}
	for i := range 20 {
		f.s.Password(ctx, "guess"+string(rune('a'+i)), "x", c)
	}
	if _, err := f.s.Password(ctx, "alice", "correct horse battery", c); !errs.Is(errs.Locked, err) {
		t.Fatalf("spraying address not blocked: %v", err)
	}
	if err := f.s.Unlock(ctx, "ip", "203.0.113.9"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Password(ctx, "alice", "correct horse battery", c); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

func TestTokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		f := setup(t, dsn)
		c := auth.Client{IP: "192.0.2.7", Protocol: audit.HTTPS}
		secret, tok, err := f.s.IssueToken(ctx, f.d.Q(), f.alice.ID, "cron", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p, err := f.s.Token(ctx, secret, c)
		if err != nil || p.UserID != f.alice.ID || p.TokenID != tok.ID {
			t.Fatalf("good token: %+v %v", p, err)
		}
		bad := []string{"", "coffer_", "Bearer " + secret, flipLast(secret), secret + "x",
			strings.Replace(secret, tok.ID, "aaaaaaaaaaaaaaaa", 1), "coffer_../../etc_passwd"}
		for _, b := range bad {
			if _, err := f.s.Token(ctx, b, c); !errs.Is(errs.Unauthenticated, err) {
				t.Errorf("token %q: %v", b, err)
			}
		}
		f.now = f.now.Add(2 * time.Hour)
		if _, err := f.s.Token(ctx, secret, c); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("expired token accepted: %v", err)
		}
		f.now = f.now.Add(-2 * time.Hour)
		f.d.Q().RevokeToken(ctx, tok.ID)
		if _, err := f.s.Token(ctx, secret, c); !errs.Is(errs.Unauthenticated, err) {
			t.Fatalf("revoked token accepted: %v", err)
		}
		if _, _, err := f.s.IssueToken(ctx, f.d.Q(), f.alice.ID, "x", 10*365*24*time.Hour); !errs.Is(errs.Invalid, err) {
			t.Fatalf("ten-year token: %v", err)
		}
		recs, _ := f.d.Q().AuditQuery(ctx, db.AuditFilter{Action: audit.ActTokenUse}, 100)
		if len(recs) < len(bad) {
			t.Fatalf("bad tokens not audited: %d records", len(recs))
		}
	})
}

func TestPasswordHashing(t *testing.T) {
	h, _ := auth.HashPassword("pw")
	h2, _ := auth.HashPassword("pw")
	if h == h2 || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hashes %q %q", h, h2)
	}
	if !auth.CheckPassword(h, "pw") || auth.CheckPassword(h, "pW") || auth.CheckPassword("", "") ||
		auth.CheckPassword("$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", "pw") {
		t.Fatal("CheckPassword wrong")
	}
	if auth.CheckPasswordStrength("short") == nil || auth.CheckPasswordStrength("twelve chars") != nil {
		t.Fatal("strength check wrong")
	}
}

func flipLast(s string) string {
	last := byte('a')
	if s[len(s)-1] == 'a' {
		last = 'b'
	}
	return s[:len(s)-1] + string(last)
}
