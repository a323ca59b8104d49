// Package s3 is a blob.Store in a bucket of Amazon S3 or of any server that speaks
// its protocol (MinIO, Ceph RGW, versitygw, Garage...), through the minio-go client.
//
// Blob id ID is the object PREFIX+ID. A blob is written as one PUT when it fits in
// one part, else as a multipart upload streamed part by part, so a writer holds at
// most Config.Uploads+1 parts in memory whatever the blob's size. Commit is the PUT or
// the completion of the multipart upload, made conditional (If-None-Match: *) so that
// an id is never overwritten: until then nothing is visible under the id, and once
// S3 has acknowledged it the blob is durable. Uploads that a crash abandoned are
// removed by AbortStale (and, as a safety net, by a bucket lifecycle rule).
//
// Objects are read with ranged GETs; a reader that reads sequentially is served
// from one GET of a growing window ahead of it rather than a request per read.
package s3

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Store keeps blobs as objects in one bucket, under one key prefix. It is safe for
// concurrent use.
type Store struct {
	cfg      Config
	client   minio.Core
	tr       http.RoundTripper
	maxParts int // S3's limit, lowered by tests
}

var (
	_ blob.Store  = (*Store)(nil)
	_ blob.Lister = (*Store)(nil)
)

// probeTimeout bounds New's check that the bucket can be reached.
const probeTimeout = 30 * time.Second

// abortTimeout bounds the requests that clean up after a writer, which run even
// when the writer's context has ended.
const abortTimeout = time.Minute

// sendTimeout bounds the sending of one part or small blob, with its retries: the
// writer's context may never end (files gives it none), and a server that stops
// reading must not hold a writer and its buffers for ever.
const sendTimeout = 15 * time.Minute

// New connects to the bucket cfg names, with the credentials found in env (os.Getenv
// in production; see findCredentials), and checks that the bucket exists and the
// credentials are accepted. It creates no bucket.
func New(ctx context.Context, cfg Config, env func(string) string) (*Store, error) {
	const op = errs.Op("s3.New")
	if err := checkBucket(cfg.Bucket); err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	prefix, err := cleanPrefix(cfg.Prefix)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	cfg.Prefix = prefix
	if cfg.Endpoint != "" {
		if cfg.Endpoint, err = checkEndpoint(cfg.Endpoint); err != nil {
			return nil, errs.E(op, errs.Invalid, fmt.Errorf("endpoint: %w", err))
		}
	}
	cfg = cfg.withDefaults(env)
	if cfg.PartSize < minPartSize || cfg.PartSize > maxPartSize || cfg.Uploads < 1 || cfg.Retries < 1 {
		return nil, errs.E(op, errs.Invalid, fmt.Sprintf("part size %d, uploads %d, retries %d: out of range", cfg.PartSize, cfg.Uploads, cfg.Retries))
	}
	creds, credSource, err := findCredentials(env)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	host, secure := cfg.Host()
	tr := cfg.Transport
	if tr == nil {
		if tr, err = transport(secure, env); err != nil {
			return nil, errs.E(op, errs.Invalid, err)
		}
	}
	lookup := minio.BucketLookupAuto
	switch cfg.Addressing {
	case PathStyle:
		lookup = minio.BucketLookupPath
	case VirtualHostStyle:
		lookup = minio.BucketLookupDNS
	}
	client, err := minio.NewCore(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    tr,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   cfg.Retries,
	})
	if err != nil {
		return nil, errs.E(op, errs.Invalid, fmt.Errorf("S3 endpoint %s: %w", cfg.endpointName(), err))
	}
	s := &Store{cfg: cfg, client: *client, tr: tr, maxParts: maxParts}

	if err := s.probe(ctx, credSource); err != nil {
		return nil, errs.E(op, err)
	}
	return s, nil
}

// probe lists one key of the bucket: an answer, even an empty one, shows that the
// endpoint is reachable, the bucket exists and the credentials are accepted. A
// listing rather than a HEAD, because an error answer to a HEAD has no body to say
// what went wrong.
func (s *Store) probe(ctx context.Context, credSource string) error {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cfg := s.cfg
	var err error
	for info := range s.client.ListObjectsIter(pctx, cfg.Bucket, minio.ListObjectsOptions{Prefix: cfg.Prefix, MaxKeys: 1}) {
		err = info.Err
		break
	}
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return errs.E(errs.Canceled, ctx.Err())
	case minio.ToErrorResponse(err).Code == "NoSuchBucket":
		return errs.E(errs.NotFound, fmt.Errorf("bucket %q does not exist at S3 endpoint %s: create it (coffer creates no bucket) or check --blobs", cfg.Bucket, cfg.endpointName()))
	case isDenied(err):
		return errs.E(errs.Unavailable, fmt.Errorf("S3 endpoint %s refused access to bucket %q with the credentials from %s (%s): check --blobs and credentials",
			cfg.endpointName(), cfg.Bucket, credSource, describe(err)))
	case minio.ToErrorResponse(err).Code == "":
		return errs.E(errs.Unavailable, fmt.Errorf("cannot reach S3 endpoint %s (%s): check --blobs and credentials", cfg.endpointName(), describe(err)))
	}
	return errs.E(errs.Unavailable, fmt.Errorf("S3 endpoint %s, bucket %q: %s: check --blobs and credentials", cfg.endpointName(), cfg.Bucket, describe(err)))
}

// String names the store for people: its URL, without credentials.
func (s *Store) String() string { return s.cfg.String() }

// Close releases idle connections. Objects and writers still open keep working.
func (s *Store) Close() error {
	if t, ok := s.tr.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

func (s *Store) key(id blob.ID) string { return s.cfg.Prefix + string(id) }

// check refuses a malformed id or an ended ctx, as every operation does first.
func check(ctx context.Context, op errs.Op, id blob.ID) error {
	if !id.Valid() {
		return blob.InvalidID(op, id)
	}
	if err := ctx.Err(); err != nil {
		return errs.E(op, errs.Canceled, err)
	}
	return nil
}

// Create starts a blob. Whether id is taken is checked at Commit, which never
// replaces a committed blob: a check here would cost a request per blob for ids
// that are random.
func (s *Store) Create(ctx context.Context, id blob.ID) (blob.Writer, error) {
	if err := check(ctx, "s3.Create", id); err != nil {
		return nil, err
	}
	return newWriter(s, ctx, id), nil
}

// Open returns the committed blob id. Its size and ETag come from a HEAD; reads are
// ranged GETs of that version of the object.
func (s *Store) Open(ctx context.Context, id blob.ID) (blob.Object, error) {
	const op = errs.Op("s3.Open")
	if err := check(ctx, op, id); err != nil {
		return nil, err
	}
	info, err := s.client.StatObject(ctx, s.cfg.Bucket, s.key(id), minio.StatObjectOptions{})
	if err != nil {
		return nil, s.failBlob(ctx, op, id, err)
	}
	return &object{s: s, ctx: ctx, id: id, size: info.Size, etag: info.ETag, next: -1}, nil
}

// Stat returns the size of the committed blob id.
func (s *Store) Stat(ctx context.Context, id blob.ID) (int64, error) {
	const op = errs.Op("s3.Stat")
	if err := check(ctx, op, id); err != nil {
		return 0, err
	}
	info, err := s.client.StatObject(ctx, s.cfg.Bucket, s.key(id), minio.StatObjectOptions{})
	if err != nil {
		return 0, s.failBlob(ctx, op, id, err)
	}
	return info.Size, nil
}

// Delete removes the committed blob id; a missing blob is not an error.
func (s *Store) Delete(ctx context.Context, id blob.ID) error {
	const op = errs.Op("s3.Delete")
	if err := check(ctx, op, id); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.cfg.Bucket, s.key(id), minio.RemoveObjectOptions{})
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchKey" {
		return s.fail(ctx, op, err)
	}
	return nil
}

// List calls fn for every committed blob: every object directly under the prefix
// whose name is a valid id. Anything else in the bucket is skipped. fn may delete
// the blob it is given.
func (s *Store) List(ctx context.Context, fn func(blob.ID) error) error {
	const op = errs.Op("s3.List")
	if err := ctx.Err(); err != nil {
		return errs.E(op, errs.Canceled, err)
	}
	// A context of our own stops the listing's requests when fn stops it early.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for info := range s.client.ListObjectsIter(lctx, s.cfg.Bucket, minio.ListObjectsOptions{Prefix: s.cfg.Prefix, MaxKeys: 1000}) {
		if info.Err != nil {
			return s.fail(ctx, op, info.Err)
		}
		id, ok := s.idOf(info.Key)
		if !ok {
			continue
		}
		if err := fn(id); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return errs.E(op, errs.Canceled, err)
		}
	}
	return nil
}

// idOf returns the blob id that key names, if it names one.
func (s *Store) idOf(key string) (blob.ID, bool) {
	rest, ok := strings.CutPrefix(key, s.cfg.Prefix)
	id := blob.ID(rest)
	return id, ok && id.Valid()
}

// AbortStale aborts the multipart uploads of blobs under the prefix that were
// started more than olderThan ago: what writers that a crash or a lost connection
// interrupted left behind (S3 keeps, and bills, their parts until then). A live
// upload is aborted only if it has taken longer than olderThan. It returns how many
// uploads it aborted.
func (s *Store) AbortStale(ctx context.Context, olderThan time.Duration) (int, error) {
	const op = errs.Op("s3.AbortStale")
	if err := ctx.Err(); err != nil {
		return 0, errs.E(op, errs.Canceled, err)
	}
	cutoff := time.Now().Add(-olderThan)
	aborted := 0
	keyMarker, uploadMarker := "", ""
	for {
		res, err := s.client.ListMultipartUploads(ctx, s.cfg.Bucket, s.cfg.Prefix, keyMarker, uploadMarker, "/", 1000)
		if err != nil {
			return aborted, s.fail(ctx, op, err)
		}
		for _, u := range res.Uploads {
			if _, ok := s.idOf(u.Key); !ok || u.Initiated.After(cutoff) {
				continue
			}
			err := s.client.AbortMultipartUpload(ctx, s.cfg.Bucket, u.Key, u.UploadID)
			if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
				return aborted, s.fail(ctx, op, err)
			}
			if err == nil {
				aborted++
			}
		}
		if !res.IsTruncated || res.NextKeyMarker == "" && res.NextUploadIDMarker == "" {
			return aborted, nil
		}
		keyMarker, uploadMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}
