package crypt

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"testing"

	"github.com/coffer-mft/coffer/internal/errs"
)

// Fixed test keys, so that fuzz corpora stay meaningful between runs.
const (
	testKeyA  = "coffer-kek-v1 0123abcd AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" // bytes 0..31
	testKeyB  = "coffer-kek-v1 89abcdef ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=" // bytes 32..63
	testKeyA2 = "coffer-kek-v1 0123abcd QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFlaW1xdXl8=" // id of A, bytes 64..95
)

func mustParse(t testing.TB, text string) *Keyring {
	t.Helper()
	kr, err := ParseKeyring(text)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return kr
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// encrypt returns the header and payload of plaintext encrypted with kr, written in
// pieces of odd sizes to exercise the chunk boundaries.
func encrypt(t testing.TB, kr *Keyring, plaintext []byte) (header, payload []byte) {
	t.Helper()
	return encryptSuite(t, kr, plaintext, writeSuite)
}

// encryptSuite is encrypt with the payload cipher s.
func encryptSuite(t testing.TB, kr *Keyring, plaintext []byte, s suite) (header, payload []byte) {
	t.Helper()
	var buf bytes.Buffer
	header, w, err := kr.encrypt(&buf, nil, s)
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	for p := plaintext; len(p) > 0; {
		n := min(len(p), 7919)
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return header, buf.Bytes()
}

// openAll opens a file and reads all of it with one ReadAt.
func openAll(kr *Keyring, header, payload []byte) ([]byte, error) {
	r, n, err := kr.Open(header, bytes.NewReader(payload), int64(len(payload)))
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	m, err := r.ReadAt(buf, 0)
	if err == io.EOF && int64(m) == n {
		err = nil
	}
	return buf[:m], err
}

func wantKind(t *testing.T, err error, kinds ...errs.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one of kinds %v", kinds)
	}
	for _, k := range kinds {
		if errs.Is(k, err) {
			return
		}
	}
	t.Fatalf("got error %q of kind %v, want one of kinds %v", err, errs.KindOf(err), kinds)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
