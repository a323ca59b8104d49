package sftpd_test

import (
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/sftpd"
)

// An administrator can narrow the ciphers to a subset of the modern ones, never widen them.
func TestCipherChoice(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{Ciphers: []string{ssh.CipherAES128GCM}})
	e.User(t, "ann", 0)
	dial := func(cipher string) error {
		cfg := &ssh.ClientConfig{User: "ann", Auth: []ssh.AuthMethod{ssh.Password("password-of-ann")},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Config: ssh.Config{Ciphers: []string{cipher}}}
		c, err := ssh.Dial("tcp", e.addr, cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(ssh.CipherAES128GCM); err != nil {
		t.Fatalf("the configured cipher: %v", err)
	}
	if err := dial(ssh.CipherChaCha20Poly1305); err == nil {
		t.Fatal("a cipher left out of the configuration was negotiated")
	}
	for _, cfg := range []sftpd.Config{{Ciphers: []string{"aes128-cbc"}}, {Ciphers: []string{"3des-cbc"}}, {KeyExchanges: []string{"diffie-hellman-group1-sha1"}}} {
		cfg.Files, cfg.Auth, cfg.HostKeys = e.Core.Files, e.Core.Auth, hostKeys(t)
		if _, err := sftpd.New(cfg); err == nil || !strings.Contains(err.Error(), "is not offered") {
			t.Errorf("weak algorithm accepted: %+v: %v", cfg.Ciphers, err)
		}
	}
}

func hostKeys(t *testing.T) []ssh.Signer {
	keys, _, err := sftpd.LoadOrCreateHostKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
