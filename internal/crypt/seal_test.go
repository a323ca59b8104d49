package crypt

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/coffer-mft/coffer/internal/errs"
)

func TestSealSecretRoundTrip(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	secret := randomBytes(t, 20)
	id, sealed, err := kr.SealSecret("totp", []byte("user 42"), secret)
	if err != nil {
		t.Fatal(err)
	}
	if id != "0123abcd" || len(sealed) != 1+24+20+16 || sealed[0] != 1 {
		t.Fatalf("id %q, %d sealed bytes starting %#x; want 0123abcd, 61, 0x01", id, len(sealed), sealed[0])
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("the sealed bytes contain the secret")
	}
	got, err := kr.OpenSecret(id, "totp", []byte("user 42"), sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("OpenSecret = %x, %v; want %x", got, err, secret)
	}
	// A fresh nonce each time: sealing twice gives different bytes.
	_, again, _ := kr.SealSecret("totp", []byte("user 42"), secret)
	if bytes.Equal(again, sealed) {
		t.Fatal("two seals of one secret are equal: nonce reused")
	}
}

// The format is the one docs/format.md specifies, byte for byte: open it by hand.
func TestSealSecretFormat(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	secret := []byte("twenty bytes secret!")
	id, sealed, err := kr.SealSecret("totp", []byte("user 7"), secret)
	if err != nil {
		t.Fatal(err)
	}
	kek := mustDecode(t, strings.Fields(testKeyA)[2])
	key, _ := hkdf.Key(sha256.New, kek, nil, "coffer seal v1 totp", 32)
	aead, _ := chacha20poly1305.NewX(key)
	ad := []byte("coffer seal v1\x00" + id + "\x00totp\x00user 7")
	got, err := aead.Open(nil, sealed[1:25], sealed[25:], ad)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("opening by the spec: %q, %v", got, err)
	}
}

// Anything altered, or opened for another user, purpose or key, fails closed.
func TestOpenSecretFailsClosed(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	other := mustParse(t, testKeyA2) // same id, another key
	secret := randomBytes(t, 20)
	id, sealed, err := kr.SealSecret("totp", []byte("user 42"), secret)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sealed {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(sealed)
			bad[i] ^= bit
			if got, err := kr.OpenSecret(id, "totp", []byte("user 42"), bad); err == nil || got != nil || !errs.Is(errs.Integrity, err) {
				t.Fatalf("byte %d bit %#x flipped: %x, %v", i, bit, got, err)
			}
		}
	}
	tests := []struct {
		name    string
		kr      *Keyring
		id      string
		purpose string
		binding string
		sealed  []byte
		kind    errs.Kind
	}{
		{"other user", kr, id, "totp", "user 43", sealed, errs.Integrity},
		{"other purpose", kr, id, "recovery", "user 42", sealed, errs.Integrity},
		{"other key, same id", other, id, "totp", "user 42", sealed, errs.Integrity},
		{"unknown key id", kr, "89abcdef", "totp", "user 42", sealed, errs.NotFound},
		{"malformed key id", kr, "../x", "totp", "user 42", sealed, errs.Invalid},
		{"truncated", kr, id, "totp", "user 42", sealed[:len(sealed)-1], errs.Integrity},
		{"tag only", kr, id, "totp", "user 42", sealed[:sealOverhead], errs.Integrity},
		{"extended", kr, id, "totp", "user 42", append(bytes.Clone(sealed), 0), errs.Integrity},
		{"empty", kr, id, "totp", "user 42", nil, errs.Integrity},
		{"huge", kr, id, "totp", "user 42", make([]byte, 4096), errs.Integrity},
	}
	for _, tt := range tests {
		got, err := tt.kr.OpenSecret(tt.id, tt.purpose, []byte(tt.binding), tt.sealed)
		if err == nil || got != nil || !errs.Is(tt.kind, err) {
			t.Errorf("%s: %x, %v; want a %v error", tt.name, got, err, tt.kind)
		}
		if err != nil && (strings.Contains(err.Error(), fmt.Sprintf("%x", secret)) || strings.Contains(err.Error(), string(secret))) {
			t.Errorf("%s: the error quotes the secret", tt.name)
		}
	}
}

// After a new key became primary, secrets sealed under the old one still open, and new
// secrets use the new key.
func TestSealSecretRotation(t *testing.T) {
	t.Parallel()
	old := mustParse(t, testKeyA)
	id, sealed, err := old.SealSecret("totp", []byte("user 1"), []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	rotated := mustParse(t, testKeyB+"\n"+testKeyA)
	if got, err := rotated.OpenSecret(id, "totp", []byte("user 1"), sealed); err != nil || string(got) != "s" {
		t.Fatalf("old secret after rotation: %q, %v", got, err)
	}
	newID, _, err := rotated.SealSecret("totp", []byte("user 1"), []byte("s"))
	if err != nil || newID != "89abcdef" {
		t.Fatalf("new seal under %q, %v; want the new primary 89abcdef", newID, err)
	}
}

func TestSealSecretSizes(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	for _, n := range []int{0, MaxSecretSize + 1} {
		if _, _, err := kr.SealSecret("totp", nil, make([]byte, n)); !errs.Is(errs.Invalid, err) {
			t.Errorf("%d-byte secret: %v, want Invalid", n, err)
		}
	}
	id, sealed, err := kr.SealSecret("totp", nil, make([]byte, MaxSecretSize))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := kr.OpenSecret(id, "totp", nil, sealed); err != nil || len(got) != MaxSecretSize {
		t.Fatalf("largest secret: %d bytes, %v", len(got), err)
	}
	if _, _, err := (&Keyring{}).SealSecret("totp", nil, []byte("s")); !errs.Is(errs.NotFound, err) {
		t.Fatalf("empty keyring: %v", err)
	}
}
