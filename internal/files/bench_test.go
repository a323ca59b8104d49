package files_test

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/coffer-mft/coffer/internal/files"
)

const benchSize = 64 << 20

func benchFixture(b *testing.B) *fixture {
	dir := b.TempDir()
	return newLocalFixture(b, filepath.Join(dir, "coffer.db"), filepath.Join(dir, "blobs"))
}

// BenchmarkCreate uploads (replaces) a 64 MiB file: read, hash, encrypt, fsync, commit.
func BenchmarkCreate(b *testing.B) {
	f := benchFixture(b)
	alice := f.user("alice", 0)
	data := randomBytes(benchSize)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		_, err := f.svc.Create(f.ctx, alice, "/bench.bin", bytes.NewReader(data), files.CreateOptions{Size: benchSize})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenRead downloads a 64 MiB file sequentially in 256 KiB reads.
func BenchmarkOpenRead(b *testing.B) {
	f := benchFixture(b)
	alice := f.user("alice", 0)
	f.put(alice, "/bench.bin", randomBytes(benchSize))
	buf := make([]byte, 256<<10)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		r, err := f.svc.Open(f.ctx, alice, "/bench.bin")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, io.NewSectionReader(r, 0, r.Size()), buf)
		if err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		r.Close()
	}
}
