package files_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/blob/local"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

// newLocalFixture is a fixture over a local blob store in dir.
func newLocalFixture(t testing.TB, dsn, dir string) *fixture {
	t.Helper()
	store, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newFixture(t, dsn, store)
}

// blobFile returns the file that holds the content of p's home file name.
func (f *fixture) blobFile(p auth.Principal, storeDir, name string) string {
	f.t.Helper()
	e, err := f.db.Q().LookupChild(f.ctx, f.homeID(p), 0, name)
	if err != nil {
		f.t.Fatal(err)
	}
	return filepath.Join(storeDir, "data", e.BlobID[:2], e.BlobID)
}

func TestIntegrity(t *testing.T) {
	t.Parallel()
	const chunk = 64 << 10
	data := randomBytes(5*chunk + 100) // six chunks, the last one short
	// Payload layout: a 16-byte nonce, then per chunk its ciphertext and a 16-byte tag.
	chunkAt := func(i int) int64 { return 16 + int64(i)*(chunk+16) }
	cases := []struct {
		name    string
		damage  func(t *testing.T, file string)
		atOpen  bool // Open itself fails, not only reads
		badFrom int  // the first chunk a read fails in (when !atOpen)
	}{
		{"flipped bit in chunk 2", flipAt(chunkAt(2) + 1000), false, 2},
		{"flipped bit in a tag", flipAt(chunkAt(3) + chunk + 3), false, 3},
		{"flipped bit in the nonce", flipAt(3), true, 0},
		{"flipped bit in the last chunk", flipAt(chunkAt(5) + 10), true, 0},
		{"truncated", truncateBy(50), true, 0},
		{"extended", appendBytes(chunk + 16), true, 0},
		{"missing", func(t *testing.T, file string) {
			if err := os.Remove(file); err != nil {
				t.Fatal(err)
			}
		}, true, 0},
		{"swapped chunks", swapChunks(chunkAt(1), chunkAt(2), chunk+16), false, 1},
	}
	dbtest.Each(t, func(t *testing.T, dsn string) {
		dir := t.TempDir()
		f := newLocalFixture(t, dsn, dir)
		alice := f.user("alice", 0)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f.put(alice, "/victim", data)
				c.damage(t, f.blobFile(alice, dir, "victim"))

				r, err := f.svc.Open(f.ctx, alice, "/victim")
				if c.atOpen {
					wantKind(t, "Open", err, errs.Integrity)
					if err == nil {
						r.Close()
					}
					return
				}
				if err != nil {
					t.Fatalf("Open: %v (want the damage found by a read of chunk %d)", err, c.badFrom)
				}
				defer r.Close()
				for i := range 6 {
					buf := make([]byte, 100)
					off := int64(i*chunk + 7)
					n, err := r.ReadAt(buf, off)
					if i < c.badFrom {
						if err != nil || !bytes.Equal(buf[:n], data[off:off+100]) {
							t.Errorf("chunk %d is intact but reads %d bytes, %v", i, n, err)
						}
						continue
					}
					if i == c.badFrom {
						wantKind(t, "ReadAt in the damaged chunk", err, errs.Integrity)
					}
					if !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
						t.Errorf("chunk %d: a read returned wrong bytes (err %v)", i, err)
					}
				}
				// A whole read never yields a wrong byte.
				all, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
				wantKind(t, "reading it all", err, errs.Integrity)
				if !bytes.Equal(all, data[:len(all)]) {
					t.Error("a read of damaged data returned wrong bytes")
				}
			})
		}
	})
}

func flipAt(off int64) func(*testing.T, string) {
	return func(t *testing.T, file string) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		b[off] ^= 0x01
		writeBack(t, file, b)
	}
}

func truncateBy(n int) func(*testing.T, string) {
	return func(t *testing.T, file string) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		writeBack(t, file, b[:len(b)-n])
	}
}

func appendBytes(n int) func(*testing.T, string) {
	return func(t *testing.T, file string) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		writeBack(t, file, append(b, make([]byte, n)...))
	}
}

func swapChunks(a, b, size int64) func(*testing.T, string) {
	return func(t *testing.T, file string) {
		buf, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		tmp := bytes.Clone(buf[a : a+size])
		copy(buf[a:a+size], buf[b:b+size])
		copy(buf[b:b+size], tmp)
		writeBack(t, file, buf)
	}
}

// writeBack replaces a blob file.
func writeBack(t *testing.T, file string, b []byte) {
	t.Helper()
	if err := os.Chmod(file, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestNoPlaintextAtRest: neither the database (with its WAL) nor the blob store holds
// any part of a file's content or the key that would decrypt it.
func TestNoPlaintextAtRest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := newLocalFixture(t, filepath.Join(dir, "coffer.db"), filepath.Join(dir, "blobs"))
	alice := f.user("alice", 0)
	const marker = "PLAINTEXT-MARKER-7f3a9c"
	var b bytes.Buffer
	for i := 0; b.Len() < 1<<20; i++ {
		b.WriteString(marker)
		b.WriteString(strings.Repeat(string(rune('a'+i%26)), i%50))
	}
	data := b.Bytes()[:1<<20]
	f.put(alice, "/innocuous-name.txt", data)
	if got := f.get(alice, "/innocuous-name.txt"); !bytes.Equal(got, data) {
		t.Fatal("round trip failed")
	}
	// Windows of the content that do not contain the marker itself.
	windows := [][]byte{[]byte(marker), data[len(marker) : len(marker)+64], data[500000 : 500000+64], data[len(data)-64:]}
	// The key, as text and as bytes: it lives in a key file, never beside the data.
	var secrets [][]byte
	for _, line := range strings.Split(string(f.keys.Marshal()), "\n") {
		if fields := strings.Fields(line); len(fields) == 3 && strings.HasPrefix(fields[0], "coffer-kek") {
			raw, err := base64.StdEncoding.DecodeString(fields[2])
			if err != nil {
				t.Fatal(err)
			}
			secrets = append(secrets, []byte(fields[2]), raw)
		}
	}
	if len(secrets) == 0 {
		t.Fatal("no key found in the keyring's key file text")
	}

	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, w := range windows {
			if bytes.Contains(content, w) {
				t.Errorf("%s holds plaintext (%.20q...)", path, w)
			}
		}
		for _, k := range secrets {
			if bytes.Contains(content, k) {
				t.Errorf("%s holds the key-encryption key", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 {
		t.Fatalf("found only %d files under %s: the test looks in the wrong place", files, dir)
	}
}
