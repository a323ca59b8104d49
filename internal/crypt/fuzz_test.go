package crypt

import (
	"bytes"
	"io"
	"slices"
	"testing"

	"filippo.io/age"
	"github.com/coffer-mft/coffer/internal/errs"
)

// FuzzOpen feeds Open arbitrary headers and payloads. It must never panic, must fail only
// with the Kinds it documents, and whatever it does return must agree with age's own
// streaming decryption of header || payload.
func FuzzOpen(f *testing.F) {
	kr := mustParse(f, testKeyB+"\n"+testKeyA)
	// Only small seeds: the fuzzer minimizes every new input for up to a minute, which for
	// 64 KiB inputs stalls it. Multi-chunk tampering is covered by TestTamper.
	for _, n := range []int{0, 1, 300, 1000} {
		header, payload := encrypt(f, kr, bytes.Repeat([]byte{byte(n)}, n))
		f.Add(header, payload)
		header, payload = encryptSuite(f, kr, bytes.Repeat([]byte{byte(n)}, n), suiteChaCha)
		f.Add(header, payload)
	}
	header, payload := encrypt(f, mustParse(f, testKeyA2), []byte("another key, same id"))
	f.Add(header, payload)
	f.Add([]byte("age-encryption.org/v1\n-> coffer-kek 0123abcd\n\n--- AAAA\n"), []byte{})
	f.Add([]byte{}, []byte{})

	f.Fuzz(func(t *testing.T, header, payload []byte) {
		r, n, err := kr.Open(header, bytes.NewReader(payload), int64(len(payload)))
		if err != nil {
			if k := errs.KindOf(err); k != errs.Integrity && k != errs.NotFound {
				t.Fatalf("Open failed with kind %v: %v", k, err)
			}
			return
		}
		if PayloadSize(n) != int64(len(payload)) {
			t.Fatalf("Open says %d bytes of plaintext for a %d-byte payload", n, len(payload))
		}
		got := make([]byte, n)
		m, err := r.ReadAt(got, 0)
		if err != nil && err != io.EOF {
			if !errs.Is(errs.Integrity, err) {
				t.Fatalf("ReadAt failed with kind %v: %v", errs.KindOf(err), err)
			}
			got = got[:m]
		}
		if _, s, _ := kr.unwrap(header); s != suiteChaCha {
			return // only version 1 files are age files
		}
		sr, err := age.Decrypt(io.MultiReader(bytes.NewReader(header), bytes.NewReader(payload)), identity{kr: kr})
		if err != nil {
			t.Fatalf("Open accepted a file that age.Decrypt refuses: %v", err)
		}
		want, _ := io.ReadAll(sr)
		if !bytes.HasPrefix(want, got) {
			t.Fatalf("ReadAt and age.Decrypt disagree on the plaintext")
		}
	})
}

// FuzzParseKeyring checks that ParseKeyring never panics and that whatever it accepts
// survives Marshal and ParseKeyring unchanged.
func FuzzParseKeyring(f *testing.F) {
	f.Add(testKeyA)
	f.Add(testKeyB + "\n" + testKeyA + "\n")
	f.Add("# comment\r\n" + testKeyA + "\r\n")
	f.Add(testKeyB + ";" + testKeyA)
	f.Add("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	f.Add("coffer-kek-v2 0123abcd AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
	f.Add(testKeyA + "\n" + testKeyA2)
	f.Add("")

	f.Fuzz(func(t *testing.T, text string) {
		kr, err := ParseKeyring(text)
		if err != nil {
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("ParseKeyring failed with kind %v: %v", errs.KindOf(err), err)
			}
			return
		}
		ids := kr.IDs()
		if len(ids) == 0 || kr.PrimaryID() != ids[0] {
			t.Fatalf("ParseKeyring accepted %q with ids %v, primary %q", text, ids, kr.PrimaryID())
		}
		again, err := ParseKeyring(string(kr.Marshal()))
		if err != nil {
			t.Fatalf("ParseKeyring(Marshal()) = %v", err)
		}
		if !slices.Equal(again.IDs(), ids) {
			t.Fatalf("ids %v became %v", ids, again.IDs())
		}
		for _, id := range ids {
			if !validID(id) {
				t.Fatalf("accepted key id %q", id)
			}
			a, _ := kr.CheckValue(id)
			b, _ := again.CheckValue(id)
			if !bytes.Equal(a, b) {
				t.Fatalf("key %s changed in Marshal", id)
			}
		}
	})
}
