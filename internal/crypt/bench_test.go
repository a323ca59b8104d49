package crypt

import (
	"bytes"
	"io"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

const benchSize = 64 << 20

// writeBufferSize matches blob.CopyBufferSize, what callers use to move bytes.
const writeBufferSize = 256 << 10

func BenchmarkEncrypt(b *testing.B) {
	kr := mustParse(b, testKeyA)
	plain := randomBytes(b, benchSize)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		_, w, err := kr.Encrypt(io.Discard, nil)
		if err != nil {
			b.Fatal(err)
		}
		for p := plain; len(p) > 0; p = p[writeBufferSize:] {
			if _, err := w.Write(p[:writeBufferSize]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenRead(b *testing.B) {
	kr := mustParse(b, testKeyA)
	header, payload := encrypt(b, kr, randomBytes(b, benchSize))
	for _, bufSize := range []struct {
		name string
		size int
	}{{"256KiB", writeBufferSize}, {"64KiB", chunkSize}, {"32KiB", 32 << 10}} {
		b.Run(bufSize.name, func(b *testing.B) {
			buf := make([]byte, bufSize.size)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			for b.Loop() {
				r, n, err := kr.Open(header, bytes.NewReader(payload), int64(len(payload)))
				if err != nil {
					b.Fatal(err)
				}
				for off := int64(0); off < n; off += int64(len(buf)) {
					if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRawChaCha20Poly1305 is the ceiling for the two benchmarks above: sealing and
// opening 64 MiB in place in 64 KiB chunks, with no format, copies or I/O.
func BenchmarkRawChaCha20Poly1305(b *testing.B) {
	aead, err := chacha20poly1305.New(make([]byte, chacha20poly1305.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, chacha20poly1305.NonceSize)
	buf := make([]byte, benchSize/chunkSize*encChunk)
	b.Run("Seal", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			for off := 0; off < len(buf); off += encChunk {
				aead.Seal(buf[off:off], nonce, buf[off:off+chunkSize], nil)
			}
		}
	})
	for off := 0; off < len(buf); off += encChunk {
		aead.Seal(buf[off:off], nonce, buf[off:off+chunkSize], nil)
	}
	out := make([]byte, chunkSize)
	b.Run("Open", func(b *testing.B) {
		b.SetBytes(benchSize)
		for b.Loop() {
			for off := 0; off < len(buf); off += encChunk {
				if _, err := aead.Open(out[:0], nonce, buf[off:off+encChunk], nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
