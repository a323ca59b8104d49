package sftpd_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/sftpd"
	"github.com/coffer-mft/coffer/internal/testenv/syncbuf"
)

// An administrator can narrow the ciphers to a subset of the modern ones, never widen them.
func TestCipherChoice(t *testing.T) {
	t.Parallel()
	var log syncbuf.Buffer
	e := start(t, sftpd.Config{Ciphers: []string{ssh.CipherAES128GCM}, Log: slog.New(slog.NewTextHandler(&log, nil))})
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
	// The log blames the configuration, not the client.
	waitLog(t, &log, "the client offers chacha20-poly1305@openssh.com, which this server's --sftp-ciphers leaves out")
	for _, cfg := range []sftpd.Config{
		{Ciphers: []string{"aes128-cbc"}}, {Ciphers: []string{"3des-cbc"}}, {Ciphers: []string{"+aes128-cbc"}},
		{MACs: []string{"hmac-sha1"}}, {MACs: []string{"+hmac-sha1-96"}}, {MACs: []string{"hmac-md5"}},
		{KeyExchanges: []string{"diffie-hellman-group1-sha1"}}, {KeyExchanges: []string{"+diffie-hellman-group14-sha1"}},
	} {
		cfg.Files, cfg.Auth, cfg.HostKeys = e.Core.Files, e.Core.Auth, hostKeys(t)
		if _, err := sftpd.New(cfg); err == nil || !strings.Contains(err.Error(), "is not allowed") {
			t.Errorf("weak algorithm accepted: %+v %+v %+v: %v", cfg.Ciphers, cfg.MACs, cfg.KeyExchanges, err)
		}
	}
}

// Clients without AES-GCM and ChaCha20-Poly1305 (libssh2 before 1.11, paramiko before
// 3.3) are refused by default, and the log tells the administrator which flags would
// admit them; "+" adds AES-CTR and the SHA-2 HMACs to the defaults, which still work.
func TestOlderClientsByChoice(t *testing.T) {
	t.Parallel()
	dial := func(e *env, cipher, mac string) error {
		cfg := &ssh.ClientConfig{User: "ann", Auth: []ssh.AuthMethod{ssh.Password("password-of-ann")},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), Config: ssh.Config{Ciphers: []string{cipher}, MACs: []string{mac}}}
		c, err := ssh.Dial("tcp", e.addr, cfg)
		if err == nil {
			c.Close()
		}
		return err
	}
	var log syncbuf.Buffer
	e := start(t, sftpd.Config{Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e.User(t, "ann", 0)
	for range 2 {
		if err := dial(e, ssh.CipherAES128CTR, ssh.HMACSHA256); err == nil {
			t.Fatal("an AES-CTR client was admitted by default")
		}
	}
	waitLog(t, &log, "no client to server cipher in common")
	waitLog(t, &log, "--sftp-ciphers +aes128-ctr")
	waitLog(t, &log, "also needs --sftp-macs +hmac-sha2-256,hmac-sha2-512")
	// The second refusal of the same address within minutes is logged at DEBUG only.
	for deadline := time.Now().Add(10 * time.Second); strings.Count(log.String(), "SFTP client refused") < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("two refusals were not logged:\n%s", log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(log.String(), "level=WARN msg=\"SFTP client refused"); n != 1 {
		t.Errorf("%d refusals of one address at WARN, want 1:\n%s", n, log.String())
	}

	var log2 syncbuf.Buffer
	e = start(t, sftpd.Config{Log: slog.New(slog.NewTextHandler(&log2, nil)), Ciphers: []string{"+aes128-ctr", "aes256-ctr"}})
	e.User(t, "ann", 0)
	if err := dial(e, ssh.CipherAES256CTR, ssh.HMACSHA256ETM); err != nil {
		t.Fatalf("AES-CTR with an encrypt-then-MAC HMAC, once enabled: %v", err)
	}
	if err := dial(e, ssh.CipherAES128CTR, ssh.HMACSHA256); err == nil {
		t.Fatal("hmac-sha2-256 was admitted without --sftp-macs")
	}
	waitLog(t, &log2, "--sftp-macs +hmac-sha2-256")

	e = start(t, sftpd.Config{Ciphers: []string{"+aes128-ctr"}, MACs: []string{"+hmac-sha2-256", "hmac-sha2-512"}})
	e.User(t, "ann", 0)
	for _, c := range [][2]string{{ssh.CipherAES128CTR, ssh.HMACSHA256}, {ssh.CipherAES128CTR, ssh.HMACSHA512}, {ssh.CipherAES128GCM, ""}, {ssh.CipherChaCha20Poly1305, ""}} {
		if err := dial(e, c[0], c[1]); err != nil {
			t.Errorf("%s %s: %v", c[0], c[1], err)
		}
	}
	if err := dial(e, ssh.CipherAES192CTR, ssh.HMACSHA256); err == nil {
		t.Error("aes192-ctr was admitted though not named")
	}
}

func hostKeys(t *testing.T) []ssh.Signer {
	keys, _, err := sftpd.LoadOrCreateHostKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// A client that accepts only host key types the server has no key of (ssh-keyscan's
// ECDSA probe) is told so, not that it must be upgraded; and that warning does not use up
// the address's one warning about other algorithms, such as an old client's ciphers.
func TestHostKeyTypeRefusal(t *testing.T) {
	t.Parallel()
	var log syncbuf.Buffer
	e := start(t, sftpd.Config{Log: slog.New(slog.NewTextHandler(&log, nil))})
	e.User(t, "ann", 0)
	dial := func(cfg ssh.Config, hostKeyAlgos ...string) {
		t.Helper()
		c, err := ssh.Dial("tcp", e.addr, &ssh.ClientConfig{User: "ann", Auth: []ssh.AuthMethod{ssh.Password("password-of-ann")},
			HostKeyCallback: ssh.InsecureIgnoreHostKey(), HostKeyAlgorithms: hostKeyAlgos, Config: cfg})
		if err == nil {
			c.Close()
			t.Fatal("the client was admitted")
		}
	}
	dial(ssh.Config{}, ssh.KeyAlgoECDSA256)
	waitLog(t, &log, "the client accepts only host key types this server has no key of (it has ED25519 and RSA): ssh-keyscan probes each type")
	if strings.Contains(log.String(), "must be upgraded") {
		t.Fatalf("a host key type refusal said the client must be upgraded:\n%s", log.String())
	}
	dial(ssh.Config{Ciphers: []string{ssh.CipherAES128CTR}})
	waitLog(t, &log, `level=WARN msg="SFTP client refused: no client to server cipher in common`)
}
