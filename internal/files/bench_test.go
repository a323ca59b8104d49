package files_test

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/coffer-mft/coffer/internal/blob/s3/s3test"
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

// BenchmarkUploadInPieces sends a 64 MiB file through StartUpload and Append in 2 MiB
// pieces, as a tus client with a fixed piece size does: each piece stores only its own
// bytes, so the cost per byte is about that of one Create plus one copy at completion
// (it was the square of the file's size, copying all stored before each piece).
func BenchmarkUploadInPieces(b *testing.B) {
	f := benchFixture(b)
	alice := f.user("alice", 0)
	data := randomBytes(benchSize)
	const piece = 2 << 20
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		part, err := f.svc.StartUpload(f.ctx, alice, "/pieces.bin", files.StartOptions{Length: benchSize})
		if err != nil {
			b.Fatal(err)
		}
		for off := int64(0); off < benchSize; off += piece {
			if _, _, err := f.svc.Append(f.ctx, alice, part.ID, off, bytes.NewReader(data[off:off+piece])); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// discard is io.Discard without its ReadFrom, which would read in 8 KiB pieces whatever
// buffer io.CopyBuffer is given: each would decrypt a whole 64 KiB chunk (and, with S3,
// fetch it), so the benchmark measured that instead of 256 KiB reads.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

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
		n, err := io.CopyBuffer(discard{}, io.NewSectionReader(r, 0, r.Size()), buf)
		if err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		r.Close()
	}
}

// BenchmarkOpenReadS3 is BenchmarkOpenRead with the blobs in S3 (COFFER_TEST_S3).
func BenchmarkOpenReadS3(b *testing.B) {
	f := newFixture(b, filepath.Join(b.TempDir(), "coffer.db"), s3test.Store(b))
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
		n, err := io.CopyBuffer(discard{}, io.NewSectionReader(r, 0, r.Size()), buf)
		if err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		r.Close()
	}
}

// BenchmarkCreateSmall uploads new 4 KiB files one after the other, as an SFTP or
// HTTPS client putting many small files does: the per-file cost of resolving the
// path, the commit (one WAL fsync on SQLite) and the audit record.
func BenchmarkCreateSmall(b *testing.B) {
	f := benchFixture(b)
	f.svc.SetInlineMax(files.MaxInline)
	alice := f.user("alice", 0)
	data := randomBytes(4 << 10)
	i := 0
	for b.Loop() {
		i++
		_, err := f.svc.Create(f.ctx, alice, fmt.Sprintf("/s%d", i), bytes.NewReader(data), files.CreateOptions{Size: -1})
		if err != nil {
			b.Fatal(err)
		}
	}
}
