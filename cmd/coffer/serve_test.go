package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/testenv/syncbuf"
)

// served is a `coffer serve` running in-process.
type served struct {
	addr   string
	banner string
	stderr *syncbuf.Buffer
	cancel context.CancelFunc
	code   chan int
}

var listenRE = regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)

// notRoot plays an unprivileged user, so that the tests also pass when run as root.
func notRoot() int { return 1000 }

// startServe runs serve and waits for its banner; it fails the test if serve exits first.
func startServe(t *testing.T, dir string, vars map[string]string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &served{stderr: &syncbuf.Buffer{}, cancel: cancel, code: make(chan int, 1)}
	e := env2(vars)
	go func() {
		s.code <- run(ctx, env{stdin: strings.NewReader(""), stdout: pw, stderr: s.stderr, getenv: e, euid: notRoot},
			[]string{"serve", "--data", dir, "--http", "127.0.0.1:0", "--sftp", "127.0.0.1:0", "--shutdown-timeout", "5s"})
		pw.Close()
	}()
	var banner strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		banner.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "Stop with Ctrl-C") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	s.banner = banner.String()
	m := listenRE.FindStringSubmatch(s.banner)
	if m == nil {
		cancel()
		t.Fatalf("serve did not start (exit %v):\nstdout:\n%s\nstderr:\n%s", <-s.code, s.banner, s.stderr)
	}
	s.addr = m[1]
	t.Cleanup(func() { s.stop(t) })
	return s
}

func env2(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func (s *served) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case c := <-s.code:
		s.code <- c
		return c
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of its context ending")
		return -1
	}
}

func TestServeFirstStartAndRestart(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir, nil)
	for _, want := range []string{"TLS certificate SHA-256:", "Key-encryption key: " + filepath.Join(dir, "coffer.kek"),
		"LOSING IT LOSES EVERY FILE", `Created the administrator "admin" with the password:`,
		"SFTP:      sftp -P ", "SSH host keys (" + filepath.Join(dir, "ssh"), "SHA256:"} {
		if !strings.Contains(s.banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, s.banner)
		}
	}
	pw := regexp.MustCompile(`(?m)^\s{6}(\S{20,})$`).FindStringSubmatch(s.banner)
	if pw == nil {
		t.Fatalf("no password in the banner:\n%s", s.banner)
	}
	// The printed password works, over TLS verified against the generated certificate.
	certPEM, err := os.ReadFile(filepath.Join(dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("POST", "https://"+s.addr+"/api/v1/tokens", nil)
	req.SetBasicAuth("admin", pw[1])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"token": "coffer_`) {
		t.Fatalf("token with the printed password: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(s.stderr.String(), pw[1]) {
		t.Fatal("the admin password reached the log")
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exited %d after SIGTERM-like cancel; stderr:\n%s", code, s.stderr)
	}
	// The periodic jobs released their leases before the database was closed.
	if strings.Contains(s.stderr.String(), "cannot release") {
		t.Errorf("a clean stop could not release the jobs' leases:\n%s", s.stderr)
	}

	// A restart keeps everything and prints no new password or key warning.
	s2 := startServe(t, dir, nil)
	if strings.Contains(s2.banner, "Created the administrator") || strings.Contains(s2.banner, "A new key-encryption key") {
		t.Fatalf("restart re-initialised:\n%s", s2.banner)
	}
	s2.stop(t)

	// The wrong key is refused, naming the problem.
	other, _ := crypt.NewKeyring()
	var out, errb bytes.Buffer
	code := run(context.Background(), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: env2(map[string]string{"COFFER_KEK": string(other.Marshal())}), euid: notRoot},
		[]string{"serve", "--data", dir, "--http", "127.0.0.1:0"})
	if code != exitFailure || !strings.Contains(errb.String(), "does not contain") && !strings.Contains(errb.String(), "wrong key") {
		t.Fatalf("wrong COFFER_KEK: exit %d, stderr %q", code, errb.String())
	}
}

func TestServeAdminPasswordFromEnvAndBadInput(t *testing.T) {
	dir := t.TempDir()
	s := startServe(t, dir, map[string]string{"COFFER_ADMIN_PASSWORD": "a long enough password"})
	if !strings.Contains(s.banner, "password from COFFER_ADMIN_PASSWORD") || strings.Contains(s.banner, "a long enough password") {
		t.Fatalf("banner:\n%s", s.banner)
	}
	s.stop(t)
	cases := []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{[]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--sftp", "off"}, map[string]string{"COFFER_ADMIN_PASSWORD": "short"}, exitFailure, "at least 12"},
		{[]string{"serve", "--bogus"}, nil, exitUsage, "flag provided but not defined"},
		{[]string{"serve", "--data", t.TempDir(), "--log-format", "xml"}, nil, exitUsage, "use text or json"},
		{[]string{"serve", "--data", filepath.Join(dir, "coffer.kek"), "--http", "127.0.0.1:0"}, nil, exitFailure, "data directory"},
		{[]string{"serve", "--data", t.TempDir(), "--tls-cert", "/nonexistent.pem", "--http", "127.0.0.1:0"}, nil, exitUsage, "--tls-key"},
		{[]string{"serve", "--data", t.TempDir(), "--db", "postgres://x:secret@127.0.0.1:1/db?connect_timeout=2"}, nil, exitFailure, "cannot connect to PostgreSQL"},
		{[]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--sftp", "127.0.0.1:0", "--sftp-ciphers", "aes128-cbc"}, nil, exitUsage, "is not allowed"},
		{[]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--blobs", "/srv/blobs"}, nil, exitUsage, "--blobs"},
		{[]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--blobs", "s3://AKIA:secret@bucket"}, nil, exitUsage, "credentials do not belong in --blobs"},
		{[]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--blobs", "s3://bucket?endpoint=http://127.0.0.1:1"}, nil, exitUsage, "no S3 credentials found"},
		{[]string{"serve", "--data", t.TempDir(), "--http", "127.0.0.1:0", "--blobs", "s3://bucket?endpoint=http://127.0.0.1:1&retries=1"},
			map[string]string{"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "hunter2hunter2"}, exitFailure, "cannot reach S3 endpoint http://127.0.0.1:1"},
	}
	for _, c := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: env2(c.env), euid: notRoot}, c.args)
		// The secrets of the cases (":secret@" in URLs, the AWS key) must not be echoed; the
		// usage text itself may say "secret" (--tripwire-webhook-secret-file).
		if code != c.code || !strings.Contains(errb.String(), c.want) || strings.Contains(errb.String(), ":secret@") || strings.Contains(errb.String(), "hunter2") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
}

// TestServeRefusesRoot: as root (played by the euid hook), serve stops before touching
// the data directory unless --allow-root is given.
func TestServeRefusesRoot(t *testing.T) {
	root := func() int { return 0 }
	dir := filepath.Join(t.TempDir(), "data")
	var out, errb bytes.Buffer
	code := run(context.Background(), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: env2(nil), euid: root},
		[]string{"serve", "--data", dir, "--http", "127.0.0.1:0", "--sftp", "off"})
	if code != exitUsage || !strings.Contains(errb.String(), "refusing to run as root") || !strings.Contains(errb.String(), "--allow-root") {
		t.Fatalf("as root: exit %d, stderr %q", code, errb.String())
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the data directory was created before the refusal: %v", err)
	}
	// With --allow-root it gets past the check (and fails later, on a bad flag value).
	errb.Reset()
	code = run(context.Background(), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: env2(nil), euid: root},
		[]string{"serve", "--allow-root", "--data", dir, "--log-format", "xml"})
	if code != exitUsage || !strings.Contains(errb.String(), "use text or json") {
		t.Fatalf("as root with --allow-root: exit %d, stderr %q", code, errb.String())
	}
}
