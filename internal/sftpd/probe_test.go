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

// Health checks are not scored by the defender: a connection that the client closes
// having sent nothing, or only its version line (a TCP check, a banner check), scores
// nothing, however many there are. One that sends more and gives up before trying a
// user (a scanner), or that holds its slot until the handshake timeout, scores.
func TestHealthChecksNotScored(t *testing.T) {
	t.Parallel()
	e := startWith(t, sftpd.Config{HandshakeTimeout: 500 * time.Millisecond}, func(e *testenv.Env, cfg *sftpd.Config) {
		cfg.Defender = e.Core.Defender
	})

	// probe connects, reads the server's version line, sends what, and closes unless
	// hold is set, in which case it waits for the server to close the connection.
	probe := func(what string, hold bool) {
		t.Helper()
		c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatalf("server version: %v", err)
		}
		if what != "" {
			if _, err := c.Write([]byte(what)); err != nil {
				t.Fatal(err)
			}
		}
		if hold {
			for {
				if _, err := r.ReadByte(); err != nil {
					break
				}
			}
		}
	}
	const checks = 30 // 60 connections: scored as before, they would pass the ban threshold (50)
	for range checks {
		probe("", false)
		probe("SSH-2.0-check_ssh_2.4\r\n", false)
	}
	probe("SSH-2.0-scanner\r\n\x00\x00\x00\x0c\x0a\x14not-a-kexinit", false) // scored: sent past its version
	probe("", true)                                                          // scored: held its slot until the timeout
	e.stop()                                                                 // waits for every connection's handling, scoring included

	score, err := e.Core.DB.Q().DefenderScore(context.Background(), "127.0.0.1", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if score != 2 {
		t.Fatalf("score %d after %d health checks, one scanner and one silent connection held to the timeout; want 2", score, 2*checks)
	}
}
