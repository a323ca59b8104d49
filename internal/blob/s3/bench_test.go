package s3_test

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/blob/s3/s3test"
)

// The benchmarks move 256 MiB through the store and through minio-go's own
// PutObject and GetObject against the same server, and report both throughputs and
// their ratio (store / direct). Run them with
//
//	COFFER_TEST_S3=... go test -run '^$' -bench . -benchtime 3x ./internal/blob/s3
const benchSize = 256 << 20

// onlyReader hides every method but Read, as a network body would.
type onlyReader struct{ io.Reader }

func mbps(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

func BenchmarkPut256MiB(b *testing.B) {
	sv := s3test.Env(b)
	cfg := sv.Config(sv.Bucket(b))
	s := sv.New(b, cfg)
	c := sv.Client(b)
	data := randomBytes(7, benchSize)
	ctx := context.Background()
	var store, direct time.Duration
	b.SetBytes(2 * benchSize)
	for b.Loop() {
		id := blob.NewID()
		start := time.Now()
		w, err := s.Create(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		for p := data; len(p) > 0; p = p[blob.CopyBufferSize:] {
			if _, err := w.Write(p[:blob.CopyBufferSize]); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		store += time.Since(start)

		key := "direct-" + string(id)
		start = time.Now()
		if _, err := c.Client.PutObject(ctx, cfg.Bucket, key, onlyReader{bytes.NewReader(data)}, benchSize, minio.PutObjectOptions{}); err != nil {
			b.Fatal(err)
		}
		direct += time.Since(start)

		s.Delete(ctx, id)
		c.RemoveObject(ctx, cfg.Bucket, key, minio.RemoveObjectOptions{})
	}
	report(b, store, direct)
}

func BenchmarkGet256MiB(b *testing.B) {
	for _, bench := range []struct {
		name  string
		piece int
	}{
		{"512KiB", 512 << 10}, // as files.Seeker reads
		{"64KiB", 65552},      // as age reads: one encrypted chunk at a time
	} {
		b.Run(bench.name, func(b *testing.B) {
			sv := s3test.Env(b)
			cfg := sv.Config(sv.Bucket(b))
			s := sv.New(b, cfg)
			c := sv.Client(b)
			ctx := context.Background()
			id := blob.NewID()
			data := randomBytes(8, benchSize)
			w, err := s.Create(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			w.Write(data)
			if err := w.Commit(); err != nil {
				b.Fatal(err)
			}
			data = nil
			buf := make([]byte, bench.piece)
			var store, direct time.Duration
			b.SetBytes(2 * benchSize)
			for b.Loop() {
				start := time.Now()
				o, err := s.Open(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				var n int64
				for off := int64(0); off < o.Size(); {
					m, err := o.ReadAt(buf, off)
					if err != nil && err != io.EOF {
						b.Fatal(err)
					}
					off += int64(m)
					n += int64(m)
				}
				o.Close()
				store += time.Since(start)

				start = time.Now()
				obj, err := c.Client.GetObject(ctx, cfg.Bucket, string(id), minio.GetObjectOptions{})
				if err != nil {
					b.Fatal(err)
				}
				m, err := io.CopyBuffer(io.Discard, onlyReader{obj}, buf)
				obj.Close()
				if err != nil || m != n || n != benchSize {
					b.Fatalf("read %d bytes through the store, %d directly (%v), want %d", n, m, err, benchSize)
				}
				direct += time.Since(start)
			}
			report(b, store, direct)
		})
	}
}

func report(b *testing.B, store, direct time.Duration) {
	b.ReportMetric(mbps(int64(b.N)*benchSize, store), "store-MiB/s")
	b.ReportMetric(mbps(int64(b.N)*benchSize, direct), "direct-MiB/s")
	b.ReportMetric(direct.Seconds()/store.Seconds(), "ratio")
}
