package e2e_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"
	"testing/cryptotest"

	"github.com/coffer-mft/coffer/internal/parcel/e2e"
)

// The known-answer vectors in testdata/vectors.json are checked by this test and, in
// Chromium, by the browser's implementation (internal/httpd/web, TestParcelE2EVectors):
// a change of the format on either side fails one of them. COFFER_UPDATE_VECTORS=1
// rewrites the file from this package (with a seeded random source, so that it is
// reproducible); do that only for a new format version.

// Vectors is the file's layout.
type Vectors struct {
	Comment    string       `json:"comment"`
	Secret     string       `json:"secret"`     // S, base64url
	Fragment   string       `json:"fragment"`   // the link's fragment
	Passphrase string       `json:"passphrase"` // the files and manifest use IKM = S ‖ P
	KDFSalt    string       `json:"kdf_salt"`   // base64url
	P          string       `json:"p"`          // hex
	Verifier   string       `json:"verifier"`   // base64url
	Plaintext  string       `json:"plaintext"`  // how file contents are made
	Files      []VectorFile `json:"files"`
	Manifest   struct {
		Message string   `json:"message"`
		Files   []string `json:"files"`
		Sealed  string   `json:"sealed"`
	} `json:"manifest"`
	NoPassphrase VectorFile `json:"no_passphrase"` // a file under IKM = S
}

// VectorFile is one sealed file.
type VectorFile struct {
	Name         string `json:"name"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"` // of the plaintext
	Nonce        string `json:"nonce"`  // base64url
	Meta         string `json:"meta"`
	Sealed       string `json:"sealed"` // base64 (standard) of the whole sealed stream
	SealedSHA256 string `json:"sealed_sha256"`
}

// vectorPlain is the plaintext of size n: byte i is (7*i + 3) mod 256.
func vectorPlain(n int64) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(7*i + 3)
	}
	return b
}

func makeVectors(t *testing.T) Vectors {
	cryptotest.SetGlobalRandom(t, 20261127)
	s := e2e.NewSecret()
	salt := e2e.NewSalt()
	v := Vectors{Comment: "coffer-parcel-1 known-answer vectors (docs/parcels.md); made by internal/parcel/e2e/vectors_test.go",
		Secret: base64.RawURLEncoding.EncodeToString(s[:]), Fragment: s.Fragment(), Passphrase: "correct horse battery staple ✓",
		KDFSalt: base64.RawURLEncoding.EncodeToString(salt), Plaintext: "byte i is (7*i + 3) mod 256"}
	p, verifier, err := e2e.Passphrase(v.Passphrase, salt)
	if err != nil {
		t.Fatal(err)
	}
	v.P, v.Verifier = hex.EncodeToString(p), verifier
	seal := func(k e2e.Keys, name string, n int64) VectorFile {
		plain := vectorPlain(n)
		sum := sha256.Sum256(plain)
		f, err := k.NewFile(name, n, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := f.Encrypt(&out, bytes.NewReader(plain)); err != nil {
			t.Fatal(err)
		}
		ss := sha256.Sum256(out.Bytes())
		return VectorFile{Name: name, Size: n, SHA256: hex.EncodeToString(sum[:]), Nonce: f.Nonce, Meta: f.Sealed,
			Sealed: base64.StdEncoding.EncodeToString(out.Bytes()), SealedSHA256: hex.EncodeToString(ss[:])}
	}
	k := e2e.NewKeys(s, p)
	for _, f := range []struct {
		name string
		size int64
	}{{"report €.pdf", e2e.ChunkSize + 100}, {"exactly one chunk.bin", e2e.ChunkSize}, {"empty.txt", 0}} {
		v.Files = append(v.Files, seal(k, f.name, f.size))
	}
	v.Manifest.Message = "Hello,\nthe results are attached.\t— R."
	for _, f := range v.Files {
		v.Manifest.Files = append(v.Manifest.Files, f.Nonce)
	}
	if v.Manifest.Sealed, err = k.SealManifest(e2e.Manifest{Message: v.Manifest.Message, Files: v.Manifest.Files}); err != nil {
		t.Fatal(err)
	}
	v.NoPassphrase = seal(e2e.NewKeys(s, nil), "a.txt", 100)
	return v
}

func TestVectors(t *testing.T) {
	const path = "testdata/vectors.json"
	if os.Getenv("COFFER_UPDATE_VECTORS") != "" {
		js, err := json.MarshalIndent(makeVectors(t), "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(js, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v Vectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	s, err := e2e.ParseFragment(v.Fragment)
	if err != nil || base64.RawURLEncoding.EncodeToString(s[:]) != v.Secret {
		t.Fatalf("the fragment %q: %v", v.Fragment, err)
	}
	salt, _ := base64.RawURLEncoding.DecodeString(v.KDFSalt)
	p, verifier, err := e2e.Passphrase(v.Passphrase, salt)
	if err != nil || hex.EncodeToString(p) != v.P || verifier != v.Verifier {
		t.Fatalf("the passphrase derives P %x and verifier %s, the vectors say %s and %s (%v)", p, verifier, v.P, v.Verifier, err)
	}
	check := func(k e2e.Keys, f VectorFile) {
		m, err := k.OpenMeta(f.Meta)
		if err != nil || m.Name != f.Name || m.Size != f.Size || m.SHA256 != f.SHA256 || m.Nonce() != f.Nonce {
			t.Fatalf("%s: metadata %+v, %v", f.Name, m, err)
		}
		sealed, _ := base64.StdEncoding.DecodeString(f.Sealed)
		if ss := sha256.Sum256(sealed); hex.EncodeToString(ss[:]) != f.SealedSHA256 || int64(len(sealed)) != e2e.SealedSize(f.Size) {
			t.Fatalf("%s: the vector's sealed bytes do not match its own hash or size", f.Name)
		}
		var out bytes.Buffer
		if err := k.Decrypt(&out, bytes.NewReader(sealed), m); err != nil || !bytes.Equal(out.Bytes(), vectorPlain(f.Size)) {
			t.Fatalf("%s: decrypting the vector: %v", f.Name, err)
		}
	}
	k := e2e.NewKeys(s, p)
	for _, f := range v.Files {
		check(k, f)
	}
	check(e2e.NewKeys(s, nil), v.NoPassphrase)
	if _, err := e2e.NewKeys(s, nil).OpenMeta(v.Files[0].Meta); !errors.Is(err, e2e.ErrAuth) {
		t.Fatalf("the metadata opened without the passphrase: %v", err)
	}
	m, err := k.OpenManifest(v.Manifest.Sealed)
	if err != nil || m.Message != v.Manifest.Message || len(m.Files) != len(v.Manifest.Files) {
		t.Fatalf("manifest %+v, %v", m, err)
	}
	for i := range m.Files {
		if m.Files[i] != v.Manifest.Files[i] {
			t.Fatalf("manifest file %d: %s, want %s", i, m.Files[i], v.Manifest.Files[i])
		}
	}
}
