package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/blob/local"
	"github.com/coffer-mft/coffer/internal/blob/s3"
	"github.com/coffer-mft/coffer/internal/blob/s3/s3test"
	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/testenv/syncbuf"
)

func openCore(t *testing.T, cfg config.Config, env map[string]string) (*Core, *syncbuf.Buffer) {
	t.Helper()
	var logs syncbuf.Buffer
	c, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, &logs
}

// abandon starts a blob of more than one part and leaves it, as a crash would.
func abandon(t *testing.T, c *Core) {
	t.Helper()
	w, err := c.Blobs.Create(t.Context(), blob.NewID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, s3.DefaultPartSize+1)); err != nil {
		t.Fatal(err)
	}
}

// Maintain removes the leftovers of interrupted writes of whichever store is in use.
func TestMaintainCleansBlobStore(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		dir := t.TempDir()
		c, logs := openCore(t, config.Config{DataDir: dir}, nil)
		if _, ok := c.Blobs.(*local.Store); !ok {
			t.Fatalf("the default store is a %T", c.Blobs)
		}
		abandon(t, c)
		tmp := filepath.Join(dir, "blobs", "tmp")
		c.maintainOnce(t.Context())
		if entries, _ := os.ReadDir(tmp); len(entries) != 1 {
			t.Fatalf("a fresh temporary file was removed, or more appeared: %d", len(entries))
		}
		c.leftoversAge = 0
		c.maintainOnce(t.Context())
		if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
			t.Errorf("%d temporary files left", len(entries))
		}
		if !strings.Contains(logs.String(), "removed abandoned temporary files") {
			t.Errorf("log:\n%s", logs)
		}
	})
	t.Run("s3", func(t *testing.T) {
		sv := s3test.Env(t)
		bucket := sv.Bucket(t)
		cfg := config.Config{DataDir: t.TempDir(), Blobs: "s3://" + bucket + "/coffer?endpoint=" + sv.Endpoint + "&path-style=true"}
		c, logs := openCore(t, cfg, map[string]string{"AWS_ACCESS_KEY_ID": sv.AccessKey, "AWS_SECRET_ACCESS_KEY": sv.SecretKey})
		if _, ok := c.Blobs.(*s3.Store); !ok {
			t.Fatalf("--blobs s3://... opened a %T", c.Blobs)
		}
		abandon(t, c)
		client := sv.Client(t)
		uploads := func() int {
			res, err := client.ListMultipartUploads(t.Context(), bucket, "", "", "", "", 100)
			if err != nil {
				t.Fatal(err)
			}
			return len(res.Uploads)
		}
		c.maintainOnce(t.Context())
		if n := uploads(); n != 1 {
			t.Fatalf("after maintenance with a fresh upload: %d uploads, want 1", n)
		}
		c.leftoversAge = 0
		c.maintainOnce(t.Context())
		if n := uploads(); n != 0 {
			t.Errorf("%d multipart uploads left", n)
		}
		if !strings.Contains(logs.String(), "aborted abandoned multipart uploads") || !strings.Contains(logs.String(), "count=1") {
			t.Errorf("log:\n%s", logs)
		}
		if _, err := os.Stat(cfg.BlobDir()); err == nil {
			t.Errorf("with S3 the local blob directory %s was made", cfg.BlobDir())
		}
	})
}
