package sftpd_test

import (
	"bufio"
	"context"
	"net"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/sftpd"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// startDefended is start with the core's defender scoring, and handshake as the
// handshake timeout.
func startDefended(t *testing.T, handshake time.Duration) *env {
	t.Helper()
	return startWith(t, sftpd.Config{HandshakeTimeout: handshake}, func(e *testenv.Env, cfg *sftpd.Config) {
		cfg.Defender = e.Core.Defender
	})
}

// probe connects to e, reads the server's version line, sends what, waits hold, and
// closes; with untilClosed it waits for the server to close instead.
func probe(t *testing.T, e *env, what string, hold time.Duration, untilClosed bool) {
	t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatalf("server version: %v", err)
	}
	if what != "" {
		if _, err := c.Write([]byte(what)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(hold) // the behaviour under test: how long the slot is held
	for untilClosed {
		if _, err := r.ReadByte(); err != nil {
			break
		}
	}
}

// score stops e's server, which waits for every connection's handling (scoring
// included), and returns the address's score.
func score(t *testing.T, e *env) int64 {
	t.Helper()
	e.stop()
	n, err := e.Core.DB.Q().DefenderScore(context.Background(), "127.0.0.1", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Health checks are not scored by the defender: a connection that the client closes
// soon having sent nothing, or only its version line (a TCP check, a banner check),
// scores nothing, however many there are.
func TestHealthChecksNotScored(t *testing.T) {
	t.Parallel()
	// A long handshake timeout, so that the grace (a tenth of it) outlasts any stall of
	// a loaded test machine.
	e := startDefended(t, time.Minute)
	const checks = 30 // 60 connections: scored, they would pass the ban threshold (50)
	for range checks {
		probe(t, e, "", 0, false)
		probe(t, e, "SSH-2.0-check_ssh_2.4\r\n", 0, false)
	}
	if n := score(t, e); n != 0 {
		t.Fatalf("score %d after %d health checks, want 0", n, 2*checks)
	}
}

// What is not a health check scores one point: more than a version line (a scanner), a
// first line that is not SSH, a silent connection held past the grace, or one held until
// the handshake timeout.
func TestSlotHoldersAndScannersScored(t *testing.T) {
	t.Parallel()
	e := startDefended(t, time.Second) // a grace of 100 ms
	probe(t, e, "SSH-2.0-scanner\r\n\x00\x00\x00\x0c\x0a\x14not-a-kexinit", 0, false)
	probe(t, e, "GET / HTTP/1.0", 0, false)
	probe(t, e, "", 300*time.Millisecond, false)
	probe(t, e, "SSH-2.0-slow\r\n", 300*time.Millisecond, false)
	probe(t, e, "", 0, true)
	if n := score(t, e); n != 5 {
		t.Fatalf("score %d after 5 connections that are not health checks, want 5", n)
	}
}
