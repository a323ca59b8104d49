package testenv

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// What tests see of the blob store behind the server's back, whichever it is.

// multipartPrefix marks a blob being written to S3 in Blobs' list.
const multipartPrefix = "multipart:"

// Blobs lists what the blob store holds: committed blobs and blobs being written (local
// temporary files, S3 multipart uploads), by a name for ReadBlob and FlipBlobByte.
func (e *Env) Blobs(t testing.TB) []string {
	t.Helper()
	var out []string
	if e.s3 == nil {
		err := filepath.WalkDir(e.Core.Config.BlobDir(), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.s3.Client(t)
	for o := range c.ListObjectsIter(ctx, e.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	for u := range c.ListIncompleteUploads(ctx, e.bucket, "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		out = append(out, multipartPrefix+u.Key)
	}
	return out
}

// Writing reports whether the server is writing a blob now: a temporary file of the
// local store exists, or, with S3 (where a small blob is sent only when committed), the
// database records a blob in progress.
func (e *Env) Writing(t testing.TB) bool {
	t.Helper()
	if e.s3 != nil {
		ids, err := e.Core.DB.Q().PendingBefore(context.Background(), time.Now().Add(time.Hour), 1)
		if err != nil {
			t.Fatal(err)
		}
		return len(ids) > 0
	}
	tmp := filepath.Join(e.Core.Config.BlobDir(), "tmp") + string(filepath.Separator)
	for _, f := range e.Blobs(t) {
		if strings.HasPrefix(f, tmp) {
			return true
		}
	}
	return false
}

// ReadBlob returns the stored bytes of a committed blob named by Blobs.
func (e *Env) ReadBlob(t testing.TB, name string) []byte {
	t.Helper()
	if e.s3 == nil {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	o, _, _, err := e.s3.Client(t).GetObject(ctx, e.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FlipBlobByte inverts the byte at off (from the end when negative) of a committed blob
// named by Blobs, as damage on the disk or in the bucket would.
func (e *Env) FlipBlobByte(t testing.TB, name string, off int64) {
	t.Helper()
	b := e.ReadBlob(t, name)
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0xff
	if e.s3 == nil {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.s3.Client(t).PutObject(ctx, e.bucket, name, bytes.NewReader(b), int64(len(b)), "", "", minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
}
