package sftpd_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/sftpd"
	"github.com/coffer-mft/coffer/internal/testenv"
	"github.com/coffer-mft/coffer/internal/testenv/syncbuf"
)

type env struct {
	*testenv.Env
	addr string
	srv  *sftpd.Server
	port string
	keys []ssh.Signer // the host keys
	// stop shuts the server down and waits for every connection's handling to end (its
	// audit records written); the test's cleanup calls it too. Only once does anything.
	stop func()
}

func start(t testing.TB, cfg sftpd.Config) *env {
	t.Helper()
	return startWith(t, cfg, nil)
}

// startWith is start, with adjust setting more of cfg from the environment's core (which
// start creates) before the server is made.
func startWith(t testing.TB, cfg sftpd.Config, adjust func(*testenv.Env, *sftpd.Config)) *env {
	t.Helper()
	e := testenv.New(t, testenv.Options{})
	keys, created, err := sftpd.LoadOrCreateHostKeys(t.TempDir())
	if err != nil || !created {
		t.Fatalf("LoadOrCreateHostKeys: %v, created=%v", err, created)
	}
	cfg.Files, cfg.Auth, cfg.HostKeys = e.Core.Files, e.Core.Auth, keys
	if adjust != nil {
		adjust(e, &cfg)
	}
	srv, err := sftpd.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	stop := sync.OnceFunc(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	t.Cleanup(stop)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &env{Env: e, addr: ln.Addr().String(), srv: srv, port: port, keys: keys, stop: stop}
}

// principal is the user as the files layer sees them, for checks behind the protocol.
func (e *env) principal(t *testing.T, name string) auth.Principal {
	t.Helper()
	u, err := e.Core.DB.Q().UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return auth.Principal{UserID: u.ID, Name: u.Name, Protocol: audit.CLI}
}

// sshDial connects with auth methods and returns the SSH client and its raw connection.
func (e *env) sshDial(t *testing.T, user string, methods ...ssh.AuthMethod) (*ssh.Client, net.Conn, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: user, Auth: methods, HostKeyCallback: ssh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	c, chans, reqs, err := ssh.NewClientConn(nc, e.addr, cfg)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return ssh.NewClient(c, chans, reqs), nc, nil
}

// login connects user with their test password and opens SFTP.
func (e *env) login(t *testing.T, user string) (*sftp.Client, net.Conn) {
	t.Helper()
	sc, nc, err := e.sshDial(t, user, ssh.Password("password-of-"+user))
	if err != nil {
		t.Fatalf("ssh login as %s: %v", user, err)
	}
	c, err := sftp.NewClient(sc, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); sc.Close() })
	return c, nc
}

// fingerprint is the SHA256 fingerprint ("SHA256:...") of the server's host key of type
// algo (ssh.KeyAlgoED25519 or ssh.KeyAlgoRSA).
func (e *env) fingerprint(t *testing.T, algo string) string {
	t.Helper()
	for _, k := range e.keys {
		if k.PublicKey().Type() == algo {
			return ssh.FingerprintSHA256(k.PublicKey())
		}
	}
	t.Fatalf("no %s host key", algo)
	return ""
}

// waitLog waits until log holds want. The server logs a refused handshake after its
// client saw the refusal, so a test polls, with a deadline.
func waitLog(t *testing.T, log *syncbuf.Buffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(log.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("the server log does not say %q:\n%s", want, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
