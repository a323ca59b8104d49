package e2e_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/parcel/e2e"
)

func seal(t *testing.T, k e2e.Keys, name string, plain []byte) (*e2e.File, []byte) {
	t.Helper()
	sum := sha256.Sum256(plain)
	f, err := k.NewFile(name, int64(len(plain)), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := f.Encrypt(&out, bytes.NewReader(plain)); err != nil {
		t.Fatal(err)
	}
	if int64(out.Len()) != e2e.SealedSize(int64(len(plain))) {
		t.Fatalf("%d plaintext bytes sealed to %d, SealedSize says %d", len(plain), out.Len(), e2e.SealedSize(int64(len(plain))))
	}
	return f, out.Bytes()
}

func open(k e2e.Keys, meta string, sealed []byte) ([]byte, error) {
	m, err := k.OpenMeta(meta)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = k.Decrypt(&out, bytes.NewReader(sealed), m)
	return out.Bytes(), err
}

func TestRoundTrip(t *testing.T) {
	k := e2e.NewKeys(e2e.NewSecret(), nil)
	for _, n := range []int{0, 1, e2e.ChunkSize - 1, e2e.ChunkSize, e2e.ChunkSize + 1, 3 * e2e.ChunkSize} {
		plain := make([]byte, n)
		rand.Read(plain)
		f, sealed := seal(t, k, "report.pdf", plain)
		got, err := open(k, f.Sealed, sealed)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		m, _ := k.OpenMeta(f.Sealed)
		if m.Name != "report.pdf" || m.Nonce() != f.Nonce {
			t.Fatalf("meta %+v", m)
		}
	}
}

func TestTampering(t *testing.T) {
	s := e2e.NewSecret()
	k := e2e.NewKeys(s, nil)
	plain := make([]byte, 3*e2e.ChunkSize)
	rand.Read(plain)
	f, sealed := seal(t, k, "a", plain)
	other, otherSealed := seal(t, k, "b", plain)
	const c = e2e.ChunkSize + 16
	h := e2e.HeaderSize
	flipped := bytes.Clone(sealed)
	flipped[h+100] ^= 1
	reordered := append(append(append(bytes.Clone(sealed[:h]), sealed[h+c:h+2*c]...), sealed[h:h+c]...), sealed[h+2*c:]...)
	p, _, err := e2e.Passphrase("correct horse", e2e.NewSalt())
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		keys   e2e.Keys
		meta   string
		sealed []byte
	}{
		"a flipped bit":                {k, f.Sealed, flipped},
		"truncated at a chunk":         {k, f.Sealed, sealed[:h+2*c]},
		"truncated mid-chunk":          {k, f.Sealed, sealed[:h+2*c+100]},
		"extended":                     {k, f.Sealed, append(bytes.Clone(sealed), 0)},
		"reordered chunks":             {k, f.Sealed, reordered},
		"another file's content":       {k, f.Sealed, otherSealed},
		"another file's metadata":      {k, other.Sealed, sealed},
		"another secret":               {e2e.NewKeys(e2e.NewSecret(), nil), f.Sealed, sealed},
		"the secret with a passphrase": {e2e.NewKeys(s, p), f.Sealed, sealed},
		"empty":                        {k, f.Sealed, nil},
	} {
		if _, err := open(tc.keys, tc.meta, tc.sealed); !errors.Is(err, e2e.ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", name, err)
		}
	}
}

func TestMetaHidesNameLength(t *testing.T) {
	k := e2e.NewKeys(e2e.NewSecret(), nil)
	a, _ := k.NewFile("a", 1, make([]byte, 32))
	b, _ := k.NewFile("a-much-longer-name.pdf", 1, make([]byte, 32))
	if len(a.Sealed) != len(b.Sealed) {
		t.Fatalf("sealed metadata lengths %d and %d differ", len(a.Sealed), len(b.Sealed))
	}
}

func TestPassphraseAndManifest(t *testing.T) {
	salt := e2e.NewSalt()
	p1, v1, err := e2e.Passphrase("correct horse", salt)
	if err != nil {
		t.Fatal(err)
	}
	p2, v2, _ := e2e.Passphrase("correct horse", salt)
	_, v3, _ := e2e.Passphrase("wrong horse", salt)
	if !bytes.Equal(p1, p2) || v1 != v2 || v1 == v3 || len(v1) != 43 {
		t.Fatalf("verifiers %q %q %q", v1, v2, v3)
	}
	s := e2e.NewSecret()
	k := e2e.NewKeys(s, p1)
	sealed, err := k.SealManifest(e2e.Manifest{Message: "hi", Files: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := k.OpenManifest(sealed)
	if err != nil || m.Message != "hi" || len(m.Files) != 1 {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	if _, err := e2e.NewKeys(s, nil).OpenManifest(sealed); !errors.Is(err, e2e.ErrAuth) {
		t.Fatalf("the manifest without the passphrase: %v", err)
	}
	back, err := e2e.ParseFragment("#" + s.Fragment())
	if err != nil || back != s {
		t.Fatalf("ParseFragment: %v", err)
	}
	fr := s.Fragment()
	// The same key spelled with nonzero bits past its 256 in the last character.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	other := fr[:len(fr)-1] + string(alphabet[strings.IndexByte(alphabet, fr[len(fr)-1])|1])
	for _, bad := range []string{"", "#", "e1.", "e2." + fr[3:], fr[:20], fr[:20] + "\r" + fr[21:], fr[:20] + "\n" + fr[20:], other} {
		if _, err := e2e.ParseFragment(bad); err == nil {
			t.Errorf("ParseFragment(%q) accepted", bad)
		}
	}
}

func FuzzDecrypt(f *testing.F) {
	k := e2e.NewKeys(e2e.Secret{}, nil)
	sum := sha256.Sum256([]byte("hello"))
	file, _ := k.NewFile("f", 5, sum[:])
	var sealed bytes.Buffer
	file.Encrypt(&sealed, bytes.NewReader([]byte("hello")))
	f.Add(sealed.Bytes())
	m, _ := k.OpenMeta(file.Sealed)
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		if err := k.Decrypt(&out, bytes.NewReader(data), m); err == nil && out.String() != "hello" {
			t.Fatalf("decrypted %q without error", out.Bytes())
		}
	})
}
