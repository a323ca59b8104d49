package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// sshTry signs in over SSH (x/crypto/ssh) with a password. It returns "ok", "denied"
// (authentication failed) or "refused" (the connection ended before authentication:
// the defender closed it).
func sshTry(t *testing.T, addr, user, password string) string {
	t.Helper()
	cfg := &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.Password(password)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	c, err := ssh.Dial("tcp", addr, cfg)
	switch {
	case err == nil:
		c.Close()
		return "ok"
	case strings.Contains(err.Error(), "unable to authenticate"):
		return "denied"
	}
	return "refused"
}

// TestDefenderAcrossProtocols: normal use scores nothing; failures over the REST API and
// then over SFTP add up to one ban of the address, which both protocols then refuse
// before authentication (HTTP with 403 and a message, SSH by closing the connection),
// even for valid credentials; an administrator lifts it (REST API and use case).
func TestDefenderAcrossProtocols(t *testing.T) {
	e := testenv.New(t, testenv.Options{SFTP: true})
	ctx := context.Background()
	tok := e.User(t, "alice", 0)
	basic := func(user, pass string) http.Header {
		r, _ := http.NewRequest("GET", "/", nil)
		r.SetBasicAuth(user, pass)
		return http.Header{"Authorization": r.Header["Authorization"]}
	}
	p := e.Core.Defender.Policy()

	// Normal use, more of it than the threshold: nothing is scored.
	for i := range p.Threshold + 5 {
		resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/me", Token: tok})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	for range 3 {
		if got := sshTry(t, e.SFTPAddr, "alice", "password-of-alice"); got != "ok" {
			t.Fatalf("SFTP sign-in: %s", got)
		}
	}
	if score, err := e.Core.DB.Q().DefenderScore(ctx, "127.0.0.1", time.Now().Add(-time.Hour)); err != nil || score != 0 {
		t.Fatalf("score after normal use: %d %v", score, err)
	}

	// REST: names that do not exist, half the threshold.
	for i := range p.Threshold / p.Weights["login.unknown"] / 2 {
		resp, body := e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/tokens", Header: basic(fmt.Sprintf("ghost%d", i), "whatever-password")})
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("ghost %d: %d %s", i, resp.StatusCode, body)
		}
	}
	// SFTP: wrong passwords until the connection is refused before authentication.
	refused := false
	for i := range p.Threshold {
		if got := sshTry(t, e.SFTPAddr, "alice", fmt.Sprintf("wrong-%d", i)); got == "refused" {
			refused = true
			if i < p.Threshold/4 {
				t.Errorf("refused after only %d SFTP failures: the REST failures should not have been enough", i)
			}
			break
		}
	}
	if !refused {
		t.Fatal("SFTP never refused the address")
	}
	if got := sshTry(t, e.SFTPAddr, "alice", "password-of-alice"); got != "refused" {
		t.Fatalf("SFTP with the right password from a banned address: %s", got)
	}
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/me", Token: e.AdminToken})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "banned until") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("REST from a banned address: %d %s", resp.StatusCode, body)
	}
	recs, err := e.Core.DB.Q().AuditQuery(ctx, db.AuditFilter{Action: audit.ActBan}, 10)
	if err != nil || len(recs) != 1 || recs[0].Path != "ip:127.0.0.1" {
		t.Fatalf("ban records: %+v %v", recs, err)
	}

	// The list, then the lift, by the local administrator (the CLI's actor): the admin's
	// REST calls come from the banned address too.
	admin := accounts.LocalAdmin("test")
	bans, err := e.Core.Accounts.Bans(ctx, admin)
	if err != nil || len(bans) != 1 || bans[0].IP != "127.0.0.1" || bans[0].Strikes != 1 {
		t.Fatalf("bans: %+v %v", bans, err)
	}
	if err := e.Core.Accounts.LiftBan(ctx, admin, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	// The account lockout (package auth) is separate: lift alice's too.
	if err := e.Core.Accounts.Unlock(ctx, admin, "user", "alice"); err != nil {
		t.Fatal(err)
	}
	if err := e.Core.Accounts.Unlock(ctx, admin, "ip", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if got := sshTry(t, e.SFTPAddr, "alice", "password-of-alice"); got != "ok" {
		t.Fatalf("SFTP after the lift: %s", got)
	}
	resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/admin/bans", Token: e.AdminToken})
	var list []map[string]any
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &list) != nil || len(list) != 0 {
		t.Fatalf("GET /admin/bans after the lift: %d %s", resp.StatusCode, body)
	}
	// Only administrators list and lift.
	resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/admin/bans", Token: tok})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("GET /admin/bans as a user: %d %s", resp.StatusCode, body)
	}
	resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/admin/bans/127.0.0.1", Token: e.AdminToken})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("lifting a ban that is not there: %d %s", resp.StatusCode, body)
	}
	resp, body = e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/admin/bans/not-an-ip", Token: e.AdminToken})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("lifting a ban of a non-address: %d %s", resp.StatusCode, body)
	}
}

// TestSSHScannerScores: an SSH connection that ends after the key exchange, before trying
// any user (a scanner), scores one point; one that signs in scores nothing.
func TestSSHScannerScores(t *testing.T) {
	e := testenv.New(t, testenv.Options{SFTP: true})
	e.User(t, "alice", 0)
	ctx := context.Background()
	score := func() int64 {
		t.Helper()
		n, err := e.Core.DB.Q().DefenderScore(ctx, "127.0.0.1", time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := sshTry(t, e.SFTPAddr, "alice", "password-of-alice"); got != "ok" {
		t.Fatalf("sign-in: %s", got)
	}
	for range 3 {
		// Like ssh-keyscan: the key exchange, then the client leaves with the host key,
		// before trying any user. (A client that leaves after only the version lines is
		// a health check, which scores nothing: internal/sftpd TestHealthChecksNotScored.)
		cfg := &ssh.ClientConfig{User: "alice", Timeout: 10 * time.Second,
			HostKeyCallback: func(string, net.Addr, ssh.PublicKey) error { return errors.New("scanned") }}
		if c, err := ssh.Dial("tcp", e.SFTPAddr, cfg); err == nil || !strings.Contains(err.Error(), "scanned") {
			if c != nil {
				c.Close()
			}
			t.Fatalf("scan: %v", err)
		}
	}
	// The server scores when it sees the connection end, after this goroutine closed it.
	deadline := time.Now().Add(30 * time.Second)
	for score() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := score(); got != 3 {
		t.Fatalf("score after a sign-in and three scanner connections: %d, want 3", got)
	}
}
