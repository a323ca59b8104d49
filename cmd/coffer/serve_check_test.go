package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad flag stops coffer serve before it creates anything: on a first start the data
// directory, the database, the key and the administrator do not exist afterwards, so
// that the next, corrected start shows the password and the key warning.
func TestServeChecksFlagsFirst(t *testing.T) {
	t.Parallel()
	cert, key := filepath.Join(t.TempDir(), "cert.pem"), filepath.Join(t.TempDir(), "key.pem")
	cases := []struct {
		flags []string
		want  string
	}{
		{a("--sftp-ciphers", "aes128-cbc"), `--sftp-ciphers: cipher "aes128-cbc" is not allowed; choose among aes128-gcm@openssh.com`},
		{a("--sftp-macs", "+hmac-sha1"), `--sftp-macs: MAC "hmac-sha1" is not allowed`},
		{a("--sftp-kex", "diffie-hellman-group1-sha1"), `--sftp-kex: key exchange "diffie-hellman-group1-sha1" is not allowed`},
		{a("--http", "localhost"), `--http "localhost": not a listen address (missing port in address): use HOST:PORT or :PORT`},
		{a("--sftp", ":99999"), `--sftp ":99999": bad port "99999"`},
		{a("--tls-cert", cert), "give both --tls-cert and --tls-key"},
		{a("--tls-cert", cert, "--tls-key", key), "cannot load the TLS certificate " + cert + " and key " + key + ": " + cert + ": no such file"},
		{a("--allow-ip", "10.0.0.0/33"), "--allow-ip"},
		{a("--deny-ip", "nowhere"), "--deny-ip"},
		{a("--proxy-protocol", "nowhere"), "--proxy-protocol"},
		{a("--blobs", "/srv/blobs"), "--blobs"},
	}
	for _, c := range cases {
		dir := filepath.Join(t.TempDir(), "new")
		var out, errb bytes.Buffer
		args := append(a("serve", "--data", dir, "--http", "127.0.0.1:0", "--sftp", "127.0.0.1:0"), c.flags...)
		code := run(context.Background(), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: env2(nil), euid: notRoot}, args)
		if code != exitUsage || !strings.Contains(errb.String(), c.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.flags, code, errb.String(), exitUsage, c.want)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v: the data directory was created before the flag was refused (%v)", c.flags, err)
		}
	}
	// The SFTP flags are not checked when SFTP is off: they do not matter then.
	var errb bytes.Buffer
	code := run(context.Background(), env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &errb, getenv: env2(nil), euid: notRoot},
		a("serve", "--data", t.TempDir(), "--sftp", "off", "--sftp-ciphers", "aes128-cbc", "--log-format", "xml"))
	if code != exitUsage || !strings.Contains(errb.String(), "use text or json") {
		t.Errorf("serve --sftp off --sftp-ciphers aes128-cbc --log-format xml: exit %d, stderr %q", code, errb.String())
	}
}

// A first start that fails after the data directory was set up (here: the port is
// taken) creates no administrator, so that the next start creates one and shows its
// password, and warns about the new key, since the banner that would have is not shown.
func TestServeFailedFirstStartKeepsAdminForNextStart(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run(context.Background(), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: env2(nil), euid: notRoot},
		a("serve", "--data", dir, "--http", taken.Addr().String(), "--sftp", "off"))
	if code != exitFailure || !strings.Contains(errb.String(), "cannot listen on "+taken.Addr().String()) {
		t.Fatalf("serve on a taken port: exit %d, stderr %q", code, errb.String())
	}
	if want := "created a new key-encryption key in " + filepath.Join(dir, "coffer.kek") + ": back it up now"; !strings.Contains(errb.String(), want) {
		t.Errorf("the failed first start does not warn about its new key: stderr %q", errb.String())
	}
	s := startServe(t, dir, nil)
	if !strings.Contains(s.banner, `Created the administrator "admin" with the password:`) {
		t.Errorf("the start after a failed first start shows no administrator password:\n%s", s.banner)
	}
}
