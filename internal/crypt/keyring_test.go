package crypt

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/errs"
)

func TestParseKeyring(t *testing.T) {
	t.Parallel()
	keyA := strings.Fields(testKeyA)[2]
	tests := []struct {
		name string
		text string
		ids  []string
	}{
		{"one line", testKeyA, []string{"0123abcd"}},
		{"comments, blanks, CRLF, tabs", "# keys\r\n\r\n  # indented comment; with a semicolon\n" + strings.ReplaceAll(testKeyB, " ", "\t") + "\r\n" + testKeyA + "\n", []string{"89abcdef", "0123abcd"}},
		{"env form with ;", testKeyB + ";" + testKeyA + ";", []string{"89abcdef", "0123abcd"}},
		{"env form with ; and spaces", " " + testKeyB + " ; " + testKeyA, []string{"89abcdef", "0123abcd"}},
		{"bare base64", keyA, []string{bareID(t, keyA)}},
		{"bare base64 with whitespace", "\n " + keyA + " \n", []string{bareID(t, keyA)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kr := mustParse(t, tt.text)
			if !slices.Equal(kr.IDs(), tt.ids) || kr.PrimaryID() != tt.ids[0] {
				t.Fatalf("IDs = %v, PrimaryID = %q; want %v", kr.IDs(), kr.PrimaryID(), tt.ids)
			}
		})
	}

	// The bare form is the same key as the key line: same check value.
	bare, lined := mustParse(t, keyA), mustParse(t, testKeyA)
	cvBare, _ := bare.CheckValue(bare.PrimaryID())
	cvLined, _ := lined.CheckValue(lined.PrimaryID())
	if !bytes.Equal(cvBare, cvLined) {
		t.Error("a bare key and the same key on a key line have different check values")
	}
}

// bareID is the id docs/format.md gives a bare key.
func bareID(t *testing.T, b64key string) string {
	t.Helper()
	sum := sha256.Sum256(mustDecode(t, b64key))
	return hex.EncodeToString(sum[:])[:8]
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := decodeKey(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseKeyringErrors(t *testing.T) {
	t.Parallel()
	short := b64(make([]byte, 16))
	long := b64(make([]byte, 33))
	secret := strings.Fields(testKeyB)[2] // must never appear in an error
	head := "# Coffer key-encryption keys.\n" + testKeyA + "\n"

	tests := []struct {
		name, text string
		want       []string // substrings of the error
	}{
		{"empty", "", []string{"no keys"}},
		{"only comments", "# nothing\n\n", []string{"no keys"}},
		{"bad base64", head + "coffer-kek-v1 89abcdef " + secret[:43] + "!", []string{"line 3", "base64"}},
		{"unpadded base64", head + "coffer-kek-v1 89abcdef " + strings.TrimSuffix(secret, "="), []string{"line 3", "base64"}},
		{"short key", head + "coffer-kek-v1 89abcdef " + short, []string{"line 3", "16 bytes, want 32"}},
		{"long key", head + "coffer-kek-v1 89abcdef " + long, []string{"line 3", "33 bytes, want 32"}},
		{"duplicate id", head + "\n" + testKeyA2, []string{"line 4", "duplicate key id 0123abcd", "line 2"}},
		{"wrong version tag", head + strings.Replace(testKeyB, "-v1", "-v2", 1), []string{"line 3", `"coffer-kek-v2"`, "newer"}},
		{"another tag", head + strings.Replace(testKeyB, "coffer-kek-v1", "age-key", 1), []string{"line 3", "not a key line"}},
		{"missing id", head + "coffer-kek-v1 " + secret, []string{"line 3", "2 fields"}},
		{"extra field", head + testKeyB + " extra", []string{"line 3", "4 fields"}},
		{"upper-case id", head + strings.Replace(testKeyB, "89abcdef", "89ABCDEF", 1), []string{"line 3", "8 lower-case hex"}},
		{"short id", head + strings.Replace(testKeyB, "89abcdef", "89abcde", 1), []string{"line 3", "8 lower-case hex"}},
		{"id and key swapped", head + "coffer-kek-v1 " + secret + " 89abcdef", []string{"line 3", "8 lower-case hex"}},
		{"two bare keys", secret + ";" + strings.Fields(testKeyA)[2], []string{"line 1, entry 1", "bare key"}},
		{"bare key with a key line", testKeyA + "\n" + secret, []string{"line 2", "bare key"}},
		{"tag alone", "coffer-kek-v1", []string{"line 1", "1 fields"}},
		{"bare key too short", short, []string{"line 1", "16 bytes"}},
		{"env form bad entry", testKeyA + ";coffer-kek-v1 89abcdef " + short, []string{"line 1, entry 2", "16 bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kr, err := ParseKeyring(tt.text)
			if err == nil {
				t.Fatalf("ParseKeyring succeeded with ids %v", kr.IDs())
			}
			wantKind(t, err, errs.Invalid)
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, s := range []string{secret, secret[:20], short, long} {
				if strings.Contains(msg, s) {
					t.Errorf("error %q quotes key material", msg)
				}
			}
		})
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyB+"\n"+testKeyA)
	text := kr.Marshal()
	if !bytes.HasPrefix(text, []byte("# Coffer key-encryption keys. Keep this file secret and backed up: losing it loses every file.\n")) {
		t.Errorf("Marshal does not start with the warning comment:\n%s", text)
	}
	if !bytes.HasSuffix(text, []byte(testKeyB+"\n"+testKeyA+"\n")) {
		t.Errorf("Marshal does not end with the key lines, primary first:\n%s", text)
	}
	again := mustParse(t, string(text))
	if !bytes.Equal(again.Marshal(), text) {
		t.Errorf("Marshal(Parse(Marshal(k))) differs from Marshal(k)")
	}

	fresh, err := NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	back := mustParse(t, string(fresh.Marshal()))
	header, payload := encrypt(t, fresh, []byte("hello"))
	if got, err := openAll(back, header, payload); err != nil || string(got) != "hello" {
		t.Fatalf("a parsed copy of a keyring does not open its files: %v", err)
	}
	if !validID(fresh.PrimaryID()) {
		t.Errorf("NewKeyring made id %q", fresh.PrimaryID())
	}
}

func TestKeyringFormatHidesKeys(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA)
	key := kr.keys[0].key[:]
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for _, v := range []any{kr, *kr} {
			s := fmt.Sprintf(verb, v)
			if !strings.Contains(s, "0123abcd") {
				t.Errorf("Sprintf(%q) = %q does not show the key id", verb, s)
			}
			for _, enc := range []string{b64(key), hex.EncodeToString(key), strings.ToUpper(hex.EncodeToString(key)), fmt.Sprint(key), fmt.Sprintf("%q", key)} {
				if strings.Contains(s, enc) {
					t.Errorf("Sprintf(%q) = %q shows key bytes", verb, s)
				}
			}
		}
	}
}

func TestCheckValue(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA+"\n"+testKeyB)
	a, err := kr.CheckValue("0123abcd")
	if err != nil {
		t.Fatal(err)
	}
	b, err := kr.CheckValue("89abcdef")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := mustParse(t, testKeyA).CheckValue("0123abcd")
	other, _ := mustParse(t, testKeyA2).CheckValue("0123abcd") // same id, another key

	if len(a) != sha256.Size {
		t.Errorf("check value is %d bytes, want %d", len(a), sha256.Size)
	}
	if bytes.Equal(a, b) || bytes.Equal(a, other) {
		t.Error("two keys have the same check value")
	}
	if !bytes.Equal(a, a2) {
		t.Error("one key has two check values")
	}
	if bytes.Contains(a, kr.keys[0].key[:8]) {
		t.Error("check value contains key bytes")
	}

	_, err = kr.CheckValue("ffffffff")
	wantKind(t, err, errs.NotFound)
	if !strings.Contains(err.Error(), "ffffffff") {
		t.Errorf("error %q does not name the id", err)
	}
	_, err = kr.CheckValue("nope")
	wantKind(t, err, errs.Invalid)
}

func TestMAC(t *testing.T) {
	t.Parallel()
	kr := mustParse(t, testKeyA+"\n"+testKeyB)
	msg := []byte("record 42")
	mac, err := kr.MAC("0123abcd", "audit", msg)
	if err != nil {
		t.Fatal(err)
	}
	if !kr.VerifyMAC("0123abcd", "audit", msg, mac) {
		t.Fatal("VerifyMAC rejects a good MAC")
	}
	if again, _ := mustParse(t, testKeyA).MAC("0123abcd", "audit", msg); !bytes.Equal(again, mac) {
		t.Error("MAC is not deterministic")
	}
	check, _ := kr.CheckValue("0123abcd")
	if bytes.Equal(mac, check) {
		t.Error("MAC key is not separated from the check value")
	}

	tests := []struct {
		name, id, purpose string
		msg, mac          []byte
	}{
		{"wrong purpose", "0123abcd", "audit2", msg, mac},
		{"purpose prefix", "0123abcd", "audi", msg, mac},
		{"wrong id", "89abcdef", "audit", msg, mac},
		{"unknown id", "ffffffff", "audit", msg, mac},
		{"altered message", "0123abcd", "audit", []byte("record 43"), mac},
		{"altered mac", "0123abcd", "audit", msg, append(bytes.Clone(mac[:31]), mac[31]^1)},
		{"short mac", "0123abcd", "audit", msg, mac[:16]},
		{"empty mac", "0123abcd", "audit", msg, nil},
	}
	for _, tt := range tests {
		if kr.VerifyMAC(tt.id, tt.purpose, tt.msg, tt.mac) {
			t.Errorf("%s: VerifyMAC accepted", tt.name)
		}
	}

	_, err = kr.MAC("ffffffff", "audit", msg)
	wantKind(t, err, errs.NotFound)
}
