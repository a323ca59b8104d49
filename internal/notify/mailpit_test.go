package notify

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Mailpit is a real SMTP server with an HTTP API (github.com/axllent/mailpit), run by a
// test on loopback. COFFER_TEST_MAILPIT names its binary (CI sets it, and then a missing
// binary fails the test); else it is looked up in PATH, and the test is skipped without it.
type Mailpit struct {
	Port  int            // SMTP
	API   string         // http://127.0.0.1:PORT
	Roots *x509.CertPool // trusts its certificate, when it has one
	Cert  string         // ... which is in this PEM file
	cmd   *exec.Cmd
}

// MailpitOptions choose how the server is secured.
type MailpitOptions struct {
	Port     int    // 0: a free port
	TLS      string // "" (none), TLSStartTLS (required) or TLSImplicit
	User     string // with Password: authentication is required
	Password string
	Allowed  string // a regular expression: other recipients are refused (550)
}

// FreePort returns a loopback port nothing listens on (for a server started later).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func mailpitBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("COFFER_TEST_MAILPIT"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("COFFER_TEST_MAILPIT=%s: %v (go install github.com/axllent/mailpit@v1.33.1)", p, err)
		}
		return p
	}
	p, err := exec.LookPath("mailpit")
	if err != nil {
		t.Skip("mailpit is not installed: go install github.com/axllent/mailpit@v1.33.1, then put it in PATH or set COFFER_TEST_MAILPIT")
	}
	return p
}

// StartMailpit starts a mail server and stops it when the test ends.
func StartMailpit(t testing.TB, o MailpitOptions) *Mailpit {
	t.Helper()
	bin := mailpitBinary(t)
	dir := t.TempDir()
	m := &Mailpit{Port: o.Port}
	if m.Port == 0 {
		m.Port = FreePort(t)
	}
	m.API = "http://127.0.0.1:" + strconv.Itoa(FreePort(t))
	args := []string{"--smtp", "127.0.0.1:" + strconv.Itoa(m.Port), "--listen", strings.TrimPrefix(m.API, "http://"),
		"--database", filepath.Join(dir, "mailpit.db"), "--disable-version-check", "--smtp-disable-rdns", "--quiet"}
	if o.TLS != "" {
		cert, key := selfSigned(t, dir)
		m.Cert = cert
		args = append(args, "--smtp-tls-cert", cert, "--smtp-tls-key", key)
		pem, err := os.ReadFile(cert)
		if err != nil {
			t.Fatal(err)
		}
		m.Roots = x509.NewCertPool()
		m.Roots.AppendCertsFromPEM(pem)
		if o.TLS == TLSImplicit {
			args = append(args, "--smtp-require-tls")
		} else {
			args = append(args, "--smtp-require-starttls")
		}
	}
	if o.User != "" {
		f := filepath.Join(dir, "smtp-users")
		if err := os.WriteFile(f, []byte(o.User+":"+o.Password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--smtp-auth-file", f)
	}
	if o.Allowed != "" {
		args = append(args, "--smtp-allowed-recipients", o.Allowed)
	}
	var out strings.Builder
	m.cmd = exec.Command(bin, args...)
	m.cmd.Stdout, m.cmd.Stderr = &out, &out
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- m.cmd.Wait() }()
	t.Cleanup(func() {
		m.cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("mailpit exited: %v: %s", err, out.String())
		default:
		}
		if m.ready() {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit did not start within 30 s: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness, not synchronising on a guess
	}
}

func (m *Mailpit) ready() bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(m.Port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	res, err := http.Get(m.API + "/api/v1/info")
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t testing.TB, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{netip.MustParseAddr("127.0.0.1").AsSlice()}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// Received is a message as mailpit stored it.
type Received struct {
	ID      string
	Subject string
	From    struct{ Name, Address string }
	To      []struct{ Name, Address string }
	Bcc     []struct{ Name, Address string }
	Text    string
	HTML    string
	Headers map[string][]string
}

func (m *Mailpit) get(t testing.TB, path string, v any) {
	t.Helper()
	res, err := http.Get(m.API + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("mailpit GET %s: %s", path, res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		t.Fatalf("mailpit GET %s: %v", path, err)
	}
}

// Messages returns every message mailpit holds, with bodies and headers.
func (m *Mailpit) Messages(t testing.TB) []Received {
	t.Helper()
	var list struct {
		Messages []struct{ ID string }
	}
	m.get(t, "/api/v1/messages?limit=1000", &list)
	var out []Received
	for _, s := range list.Messages {
		var r Received
		m.get(t, "/api/v1/message/"+s.ID, &r)
		m.get(t, "/api/v1/message/"+s.ID+"/headers", &r.Headers)
		out = append(out, r)
	}
	return out
}

// Only returns the one message mailpit holds, failing the test unless there is exactly one.
func (m *Mailpit) Only(t testing.TB) Received {
	t.Helper()
	ms := m.Messages(t)
	if len(ms) != 1 {
		t.Fatalf("mailpit holds %d messages, want 1: %s", len(ms), fmt.Sprint(ms))
	}
	return ms[0]
}
