package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
)

// openNodes opens n cores on dsn at once, each with a data directory of its own and
// the environment env, as the nodes of a cluster start together.
func openNodes(t *testing.T, dsn string, n int, env map[string]string) ([]*Core, []error, []string) {
	t.Helper()
	cores, errs, dirs := make([]*Core, n), make([]error, n), make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		dirs[i] = t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := config.Config{DataDir: dirs[i], DSN: dsn}
			cores[i], errs[i] = Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(k string) string { return env[k] })
			if cores[i] != nil {
				t.Cleanup(func() { cores[i].Close() })
			}
		}()
	}
	wg.Wait()
	return cores, errs, dirs
}

// Nodes started together on an empty database without a configured key: one sets the
// database up with its new key, the others refuse to start with a key of their own, and
// leave no key file behind.
func TestNodesStartingTogetherAgreeOnOneKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		_, errs, dirs := openNodes(t, dsn, 3, nil)
		ok := 0
		for i, err := range errs {
			kek := (&config.Config{DataDir: dirs[i]}).KEKPath()
			_, statErr := os.Stat(kek)
			switch {
			case err == nil:
				ok++
				if statErr != nil {
					t.Errorf("node %d started but has no key file: %v", i, statErr)
				}
			case !strings.Contains(err.Error(), "give every node the same key") && !strings.Contains(err.Error(), "restore the key file"):
				t.Errorf("node %d: unexpected error: %v", i, err)
			case statErr == nil:
				t.Errorf("node %d refused to start but left its key file %s", i, kek)
			}
		}
		if ok != 1 {
			t.Fatalf("%d nodes started, want exactly 1: %v", ok, errs)
		}
	})
}

// Nodes sharing a key start together; exactly one creates the first administrator.
func TestNodesStartingTogetherBootstrapOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		k, err := crypt.NewKeyring()
		if err != nil {
			t.Fatal(err)
		}
		cores, errs, _ := openNodes(t, dsn, 3, map[string]string{"COFFER_KEK": string(k.Marshal())})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("node %d: %v", i, err)
			}
		}
		var wg sync.WaitGroup
		created := make([]bool, len(cores))
		for i, c := range cores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if created[i], _, err = c.Bootstrap(context.Background(), "a-long-admin-password-42"); err != nil {
					t.Errorf("node %d: Bootstrap: %v", i, err)
				}
			}()
		}
		wg.Wait()
		n := 0
		for _, c := range created {
			if c {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d nodes created the administrator, want 1", n)
		}
		rep, err := cores[0].Audit.Verify(context.Background(), nil)
		if err != nil || !rep.OK() {
			t.Fatalf("audit chain after concurrent starts: %+v, %v", rep, err)
		}
	})
}

// TestTLSKeyModes: a generated TLS key that group or others can read, or a configured one
// that everyone can read, stops the server with the chmod to run.
func TestTLSKeyModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	dir := t.TempDir()
	c := &Core{Config: config.Config{DataDir: dir}}
	if _, _, gen, err := c.TLSConfig(); err != nil || !gen {
		t.Fatalf("generating: %v %v", gen, err)
	}
	key := filepath.Join(dir, "tls", "key.pem")
	for _, m := range []struct {
		mode       os.FileMode
		configured bool
		ok         bool
	}{{0o600, false, true}, {0o640, false, false}, {0o604, false, false}, {0o640, true, true}, {0o644, true, false}} {
		if err := os.Chmod(key, m.mode); err != nil {
			t.Fatal(err)
		}
		c.Config.TLSCert, c.Config.TLSKey = "", ""
		if m.configured {
			c.Config.TLSCert, c.Config.TLSKey = filepath.Join(dir, "tls", "cert.pem"), key
		}
		_, _, _, err := c.TLSConfig()
		if m.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "chmod 600 "+key) {
			t.Errorf("mode %04o (configured %v): %v", m.mode, m.configured, err)
		}
	}
}
