// Package s3test gives tests buckets on a real S3-compatible server.
//
// The server is named by COFFER_TEST_S3 (its endpoint, e.g. http://127.0.0.1:7070),
// with the keys in COFFER_TEST_S3_ACCESS and COFFER_TEST_S3_SECRET; .ci/run starts
// a versitygw and sets them. Without COFFER_TEST_S3 the tests that need it skip,
// unless COFFER_TEST_REQUIRE_S3=1 (as in CI): then they fail.
//
// Each test gets a bucket of its own, emptied and removed when it ends, so tests
// share no state and may run in parallel.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/coffer-mft/coffer/internal/blob/s3"
)

// Server is the S3 server the tests use.
type Server struct {
	Endpoint  string // scheme://host:port
	AccessKey string
	SecretKey string
}

// Env returns the server the environment names, or skips t (fails it when
// COFFER_TEST_REQUIRE_S3 is set).
func Env(t testing.TB) Server {
	t.Helper()
	sv := Server{Endpoint: os.Getenv("COFFER_TEST_S3"), AccessKey: os.Getenv("COFFER_TEST_S3_ACCESS"), SecretKey: os.Getenv("COFFER_TEST_S3_SECRET")}
	if sv.Endpoint == "" {
		if os.Getenv("COFFER_TEST_REQUIRE_S3") != "" {
			t.Fatal("COFFER_TEST_S3 is not set but COFFER_TEST_REQUIRE_S3 is: start an S3 server and set COFFER_TEST_S3, COFFER_TEST_S3_ACCESS and COFFER_TEST_S3_SECRET (see .ci/run)")
		}
		t.Skip("S3 not configured: set COFFER_TEST_S3=http://127.0.0.1:PORT, COFFER_TEST_S3_ACCESS and COFFER_TEST_S3_SECRET to run (see .ci/run)")
	}
	if sv.AccessKey == "" || sv.SecretKey == "" {
		t.Fatal("COFFER_TEST_S3 is set but COFFER_TEST_S3_ACCESS or COFFER_TEST_S3_SECRET is not")
	}
	return sv
}

// Getenv is an environment holding only the server's keys, for s3.New.
func (sv Server) Getenv(name string) string {
	switch name {
	case "AWS_ACCESS_KEY_ID":
		return sv.AccessKey
	case "AWS_SECRET_ACCESS_KEY":
		return sv.SecretKey
	}
	return ""
}

// Client returns a client of the server, to look behind a store's back.
func (sv Server) Client(t testing.TB) *minio.Core {
	t.Helper()
	cfg, err := s3.ParseURL("s3://any?endpoint=" + sv.Endpoint)
	if err != nil {
		t.Fatalf("COFFER_TEST_S3: %v", err)
	}
	host, secure := cfg.Host()
	c, err := minio.NewCore(host, &minio.Options{
		Creds:        credentials.NewStaticV4(sv.AccessKey, sv.SecretKey, ""),
		Secure:       secure,
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Bucket creates a bucket of a random name, and empties and removes it when the
// test ends.
func (sv Server) Bucket(t testing.TB) string {
	t.Helper()
	c := sv.Client(t)
	var b [8]byte
	rand.Read(b[:])
	name := "coffer-test-" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.MakeBucket(ctx, name, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("creating bucket %s on %s: %v", name, sv.Endpoint, err)
	}
	t.Cleanup(func() { removeBucket(t, c, name) })
	return name
}

func removeBucket(t testing.TB, c *minio.Core, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for u := range c.ListIncompleteUploads(ctx, name, "", true) {
		if u.Err == nil {
			c.AbortMultipartUpload(ctx, name, u.Key, u.UploadID)
		}
	}
	for o := range c.ListObjectsIter(ctx, name, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err == nil {
			c.RemoveObject(ctx, name, o.Key, minio.RemoveObjectOptions{})
		}
	}
	if err := c.RemoveBucket(ctx, name); err != nil {
		t.Logf("removing test bucket %s: %v", name, err)
	}
}

// Config is the configuration of a store in bucket on the server, path-style
// addressed, with the defaults otherwise.
func (sv Server) Config(bucket string) s3.Config {
	return s3.Config{Bucket: bucket, Endpoint: sv.Endpoint, Addressing: s3.PathStyle}
}

// New opens a store with cfg, closed when the test ends.
func (sv Server) New(t testing.TB, cfg s3.Config) *s3.Store {
	t.Helper()
	s, err := s3.New(context.Background(), cfg, sv.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Store returns a store in a new, empty bucket of the server the environment
// names, or skips t as Env does. This is the hook for other packages' tests:
//
//	if os.Getenv("COFFER_TEST_S3") != "" { store = s3test.Store(t) }
func Store(t testing.TB) *s3.Store {
	t.Helper()
	sv := Env(t)
	return sv.New(t, sv.Config(sv.Bucket(t)))
}
