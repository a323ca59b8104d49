package server

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/crypt"
)

// A node that presents another certificate or other host keys than the node before it
// says so; one that shares them does not.
func TestNodesWarnAboutUnsharedCertificateAndHostKeys(t *testing.T) {
	k, err := crypt.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"COFFER_KEK": string(k.Marshal())}
	dsn := filepath.Join(t.TempDir(), "shared.db")
	listen := func(cfg config.Config) string {
		t.Helper()
		cfg.DSN, cfg.HTTPAddr, cfg.SFTPAddr = dsn, "127.0.0.1:0", "127.0.0.1:0"
		c, logs := openCore(t, cfg, env)
		h, err := c.ListenHTTPS()
		if err != nil {
			t.Fatal(err)
		}
		h.ln.Close()
		s, err := c.ListenSFTP()
		if err != nil {
			t.Fatal(err)
		}
		s.ln.Close()
		return logs.String()
	}
	first := config.Config{DataDir: t.TempDir(), Node: "n1"}
	if logs := listen(first); strings.Contains(logs, "WARN") {
		t.Fatalf("the first node warned:\n%s", logs)
	}
	logs := listen(config.Config{DataDir: t.TempDir(), Node: "n2"}) // its own certificate and keys
	for _, want := range []string{"node n1 presents a different TLS certificate", "node n1 presents a different set of SSH host keys"} {
		if !strings.Contains(logs, want) {
			t.Errorf("a node with its own certificate and keys did not warn %q:\n%s", want, logs)
		}
	}
	shared := config.Config{DataDir: t.TempDir(), Node: "n3",
		TLSCert: filepath.Join(first.DataDir, "tls", "cert.pem"), TLSKey: filepath.Join(first.DataDir, "tls", "key.pem"),
		SFTPHostKeys: first.SFTPHostKeyDir()}
	listen(shared) // after n2: warns
	if logs := listen(shared); strings.Contains(logs, "WARN") {
		t.Fatalf("a node sharing the certificate and keys of the node before it warned:\n%s", logs)
	}
}
