package s3_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/blob/blobtest"
	"github.com/coffer-mft/coffer/internal/blob/s3"
	"github.com/coffer-mft/coffer/internal/blob/s3/s3test"
	"github.com/coffer-mft/coffer/internal/errs"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return s3test.Store(t) })
}

// The conformance suite again, on a store under a key prefix. (Its blobs all fit in
// one part: the tests below write blobs of several.)
func TestConformancePrefix(t *testing.T) {
	sv := s3test.Env(t)
	blobtest.Run(t, func(t *testing.T) blob.Store {
		cfg := sv.Config(sv.Bucket(t))
		cfg.Prefix = "coffer/blobs/"
		return sv.New(t, cfg)
	})
}

// roundTrip is an http.RoundTripper made of a function.
type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func baseTransport() http.RoundTripper {
	return &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	random(seed).Read(b)
	return b
}

func random(seed uint64) *rand.ChaCha8 {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	return rand.NewChaCha8(key)
}

func put(t testing.TB, s blob.Store, id blob.ID, data []byte) {
	t.Helper()
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n, err := w.Write(p[:min(len(p), 256<<10)])
		if err != nil {
			w.Abort()
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func wantKind(t *testing.T, err error, want errs.Kind, what string) {
	t.Helper()
	if got := errs.KindOf(err); err == nil || got != want {
		t.Errorf("%s: error %v of kind %q, want kind %q", what, err, got, want)
	}
}

// A blob of many parts goes through a writer that holds at most Uploads+1 part
// buffers, whatever the blob's size, and reads back intact.
func TestMultipartBoundedMemory(t *testing.T) {
	sv := s3test.Env(t)
	cfg := sv.Config(sv.Bucket(t))
	cfg.PartSize, cfg.Uploads = 5<<20, 2
	s := sv.New(t, cfg)
	const parts = 16
	size := parts*int(cfg.PartSize) + 12345

	id := blob.NewID()
	src := random(1)
	piece := make([]byte, blob.CopyBufferSize)
	want := sha256.New()

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for left := size; left > 0; {
		p := piece[:min(left, len(piece))]
		src.Read(p)
		want.Write(p)
		if _, err := w.Write(p); err != nil {
			t.Fatal(err)
		}
		left -= len(p)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)

	if n := s3.PartBuffers(w); n > cfg.Uploads+1 {
		t.Errorf("the writer allocated %d part buffers, want at most %d", n, cfg.Uploads+1)
	}
	// Everything the process allocated while writing: the part buffers, the first
	// part's growth by doubling, and what the client allocates per request (signing,
	// buffers of net/http: under 1 MiB, 2 with the race detector; garbage at once).
	// A writer that kept the blob would allocate more than its size.
	allocated := after.TotalAlloc - before.TotalAlloc
	limit := uint64(cfg.Uploads+3)*uint64(cfg.PartSize) + (parts+1)<<21
	if limit >= uint64(size) {
		t.Fatalf("the limit of %d bytes is no test for a blob of %d", limit, size)
	}
	t.Logf("writing %d MiB in %d parts allocated %.1f MiB (limit %d MiB)", size>>20, parts+1, float64(allocated)/(1<<20), limit>>20)
	if allocated > limit {
		t.Errorf("writing %d bytes allocated %d bytes, want at most %d", size, allocated, limit)
	}

	ctx := t.Context()
	if got, err := s.Stat(ctx, id); err != nil || got != int64(size) {
		t.Fatalf("Stat = %d, %v; want %d", got, err, size)
	}
	o, err := s.Open(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	got := sha256.New()
	if _, err := io.CopyBuffer(got, io.NewSectionReader(o, 0, o.Size()), piece); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Error("the blob read back differs from what was written")
	}
	c := sv.Client(t)
	info, err := c.StatObject(ctx, cfg.Bucket, string(id), minio.StatObjectOptions{})
	if err != nil || !strings.HasSuffix(info.ETag, fmt.Sprintf("-%d", parts+1)) {
		t.Errorf("the object's ETag is %q (%v), want one of a %d-part upload", info.ETag, err, parts+1)
	}
}

// Reads that span the boundaries between parts, in any order, through the
// read-ahead stream or not, return the right bytes.
func TestReadAtAcrossParts(t *testing.T) {
	sv := s3test.Env(t)
	cfg := sv.Config(sv.Bucket(t))
	cfg.PartSize = 5 << 20
	s := sv.New(t, cfg)
	part := int(cfg.PartSize)
	data := randomBytes(2, 3*part+part/2)
	id := blob.NewID()
	put(t, s, id, data)

	o, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	check := func(off, n int) {
		t.Helper()
		p := make([]byte, n)
		got, err := o.ReadAt(p, int64(off))
		wantN := min(n, len(data)-off)
		if got != wantN || (err != nil && err != io.EOF) || (got < n) != (err == io.EOF) {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v; want %d", n, off, got, err, wantN)
			return
		}
		if !bytes.Equal(p[:got], data[off:off+got]) {
			t.Errorf("ReadAt(%d bytes at %d) returned wrong bytes", n, off)
		}
	}
	for k := 1; k <= 3; k++ {
		b := k * part
		check(b-1, 2)
		check(b-100, 200)
		check(b-part/2, part)    // half of one part, half of the next
		check(b-part+1, part+10) // nearly two whole parts
	}
	check(0, len(data))
	check(len(data)-10, 100)
	// Sequential reads of the size age reads (a 64 KiB chunk and its tag) over
	// every boundary.
	for off := 16; off < len(data); off += 65552 {
		check(off, 65552)
	}
}

// countGets counts the GET requests and the bytes they asked for.
type countGets struct {
	base        http.RoundTripper
	gets, asked atomic.Int64
}

func (c *countGets) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	// GETs of an object: the bucket's own GETs (listings) have no key in the path.
	if r.Method == http.MethodGet && strings.Count(strings.Trim(r.URL.Path, "/"), "/") > 0 && err == nil {
		c.gets.Add(1)
		c.asked.Add(resp.ContentLength)
	}
	return resp, err
}

// Sequential reads share few requests; a read elsewhere asks for its bytes only.
func TestReadAhead(t *testing.T) {
	sv := s3test.Env(t)
	cfg := sv.Config(sv.Bucket(t))
	counter := &countGets{base: baseTransport()}
	cfg.Transport = counter
	s := sv.New(t, cfg)
	data := randomBytes(3, 8<<20)
	id := blob.NewID()
	put(t, s, id, data)

	o, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	read := func(off, n int) {
		t.Helper()
		p := make([]byte, n)
		got, err := o.ReadAt(p, int64(off))
		if (err != nil && err != io.EOF) || !bytes.Equal(p[:got], data[off:min(off+n, len(data))]) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v or wrong bytes", n, off, got, err)
		}
	}
	// As a download does: the nonce, the last chunk, then 64 KiB chunks and their tags.
	read(0, 16)
	read(len(data)-1000, 1000)
	for off := 16; off < len(data); off += 65552 {
		read(off, 65552)
	}
	// One GET of the whole blob, one of the last chunk.
	if n, asked := counter.gets.Load(), counter.asked.Load(); n != 2 || asked != int64(len(data))+1000 {
		t.Errorf("a download of 8 MiB in 64 KiB pieces made %d GET requests for %d bytes, want 2 for %d", n, asked, len(data)+1000)
	}

	// Sequential reads elsewhere: windows of 1, 2, 4 MiB... after the first read (a read
	// across the end of a window opens the next one there).
	counter.gets.Store(0)
	counter.asked.Store(0)
	for off := 1 << 20; off < len(data); off += 65552 {
		read(off, 65552)
	}
	if n := counter.gets.Load(); n > 5 {
		t.Errorf("a sequential read of 7 MiB in 64 KiB pieces made %d GET requests, want at most 5", n)
	}
	if asked := counter.asked.Load(); asked > 2*int64(len(data)) {
		t.Errorf("a sequential read of 7 MiB asked for %d bytes", asked)
	}

	counter.gets.Store(0)
	counter.asked.Store(0)
	r := rand.New(rand.NewPCG(4, 0))
	for range 20 {
		read(r.IntN(len(data)-1000), 1000)
	}
	if n, asked := counter.gets.Load(), counter.asked.Load(); n != 20 || asked != 20*1000 {
		t.Errorf("20 random reads of 1000 bytes made %d GET requests for %d bytes, want 20 for 20000", n, asked)
	}
}

// Abort stops the part uploads and aborts the multipart upload: nothing is left in
// the bucket, even when the writer's context has ended.
func TestAbortLeavesNothing(t *testing.T) {
	sv := s3test.Env(t)
	cfg := sv.Config(sv.Bucket(t))
	cfg.PartSize = 5 << 20
	s := sv.New(t, cfg)
	c := sv.Client(t)
	for _, cancelFirst := range []bool{false, true} {
		ctx, cancel := context.WithCancel(t.Context())
		id := blob.NewID()
		w, err := s.Create(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		data := randomBytes(5, 3*int(cfg.PartSize)+1)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if uploads := incomplete(t, c, cfg.Bucket); len(uploads) != 1 {
			t.Fatalf("while writing 3 parts: %d multipart uploads, want 1", len(uploads))
		}
		if cancelFirst {
			cancel()
		}
		if err := w.Abort(); err != nil {
			t.Errorf("Abort (ctx canceled: %v): %v", cancelFirst, err)
		}
		cancel()
		if uploads := incomplete(t, c, cfg.Bucket); len(uploads) != 0 {
			t.Errorf("after Abort (ctx canceled: %v): multipart uploads %v are left", cancelFirst, uploads)
		}
		for o := range c.ListObjectsIter(t.Context(), cfg.Bucket, minio.ListObjectsOptions{Recursive: true}) {
			t.Errorf("after Abort: object %q (%v) is in the bucket", o.Key, o.Err)
		}
	}
}

func incomplete(t *testing.T, c *minio.Core, bucket string) []string {
	t.Helper()
	res, err := c.ListMultipartUploads(t.Context(), bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, u := range res.Uploads {
		keys = append(keys, u.Key)
	}
	return keys
}

// AbortStale aborts the uploads of blobs abandoned before the cutoff, and nothing else.
func TestAbortStale(t *testing.T) {
	sv := s3test.Env(t)
	cfg := sv.Config(sv.Bucket(t))
	cfg.PartSize = 5 << 20
	cfg.Prefix = "blobs/"
	s := sv.New(t, cfg)
	c := sv.Client(t)
	ctx := t.Context()

	// Uploads that are not the store's: outside its prefix, or not named by an id.
	foreign := []string{string(blob.NewID()), "blobs/not-a-blob", "blobs/sub/" + string(blob.NewID())}
	for _, key := range foreign {
		if _, err := c.NewMultipartUpload(ctx, cfg.Bucket, key, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A writer that a crash would have abandoned after its first part.
	abandoned, err := s.Create(ctx, blob.NewID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := abandoned.Write(randomBytes(6, int(cfg.PartSize)+1)); err != nil {
		t.Fatal(err)
	}
	if n := len(incomplete(t, c, cfg.Bucket)); n != len(foreign)+1 {
		t.Fatalf("%d multipart uploads, want %d", n, len(foreign)+1)
	}
	// Parts go up in the background: wait until the first one has landed, as it had long
	// before any real crash's leftover is aborted. (A part still in flight while the upload
	// is aborted can bring the upload back on versitygw, and Commit then succeeds.)
	res, err := c.ListMultipartUploads(ctx, cfg.Bucket, "", "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range res.Uploads {
		if slices.Contains(foreign, u.Key) {
			continue
		}
		for deadline := time.Now().Add(time.Minute); ; {
			parts, err := c.ListObjectParts(ctx, cfg.Bucket, u.Key, u.UploadID, 0, 10)
			if err == nil && len(parts.ObjectParts) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the first part never landed: %v", err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	if n, err := s.AbortStale(ctx, time.Hour); n != 0 || err != nil {
		t.Errorf("AbortStale(1h) = %d, %v; want 0, nil", n, err)
	}
	if n, err := s.AbortStale(ctx, 0); n != 1 || err != nil {
		t.Errorf("AbortStale(0) = %d, %v; want 1, nil", n, err)
	}
	left := incomplete(t, c, cfg.Bucket)
	if len(left) != len(foreign) {
		t.Errorf("uploads left: %v, want those of %v", left, foreign)
	}
	if err := abandoned.Commit(); err == nil {
		t.Error("Commit of a writer whose upload AbortStale aborted succeeded")
	}
	if err := abandoned.Abort(); err != nil {
		t.Errorf("Abort after a failed Commit: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = s.AbortStale(canceled, 0)
	wantKind(t, err, errs.Canceled, "AbortStale with a canceled ctx")
}

// A wrong secret (versitygw checks SigV4 signatures) is refused at start with a
// message that says what to check, and never shows the secret.
func TestWrongCredentials(t *testing.T) {
	sv := s3test.Env(t)
	bucket := sv.Bucket(t)
	for name, env := range map[string]map[string]string{
		"secret": {"AWS_ACCESS_KEY_ID": sv.AccessKey, "AWS_SECRET_ACCESS_KEY": "wrong-secret-1234567890"},
		"key id": {"AWS_ACCESS_KEY_ID": "nobody", "AWS_SECRET_ACCESS_KEY": "wrong-secret-1234567890"},
	} {
		_, err := s3.New(t.Context(), sv.Config(bucket), func(k string) string { return env[k] })
		wantKind(t, err, errs.Unavailable, "New with a wrong "+name)
		if err == nil {
			continue
		}
		for _, want := range []string{"refused access", bucket, "check --blobs and credentials", "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("wrong %s: error %q does not say %q", name, err, want)
			}
		}
		if strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("wrong %s: the error shows the secret: %q", name, err)
		}
	}
}

// The credentials checked at start can stop working later (rotated, expired): every
// operation then fails as Unavailable, with the same advice.
func TestCredentialsRevoked(t *testing.T) {
	sv := s3test.Env(t)
	cfg := sv.Config(sv.Bucket(t))
	var revoked atomic.Bool
	base := baseTransport()
	cfg.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
		if revoked.Load() {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Signature=", "Signature=00", 1))
		}
		return base.RoundTrip(r)
	})
	s := sv.New(t, cfg)
	id := blob.NewID()
	put(t, s, id, []byte("x"))
	revoked.Store(true)
	_, err := s.Stat(t.Context(), id)
	wantKind(t, err, errs.Unavailable, "Stat with revoked credentials")
	if err != nil && !strings.Contains(err.Error(), "refused coffer's credentials") {
		t.Errorf("Stat with revoked credentials: %v", err)
	}
	w, _ := s.Create(t.Context(), blob.NewID())
	w.Write([]byte("y"))
	wantKind(t, w.Commit(), errs.Unavailable, "Commit with revoked credentials")
}

// An endpoint nobody listens on is reported at start, quickly with few retries.
func TestUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg, err := s3.ParseURL("s3://bucket?endpoint=http://" + addr + "&retries=2")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
	_, err = s3.New(t.Context(), cfg, func(k string) string { return env[k] })
	wantKind(t, err, errs.Unavailable, "New with nobody at the endpoint")
	if err != nil && !strings.Contains(err.Error(), "cannot reach S3 endpoint http://"+addr) || !strings.Contains(fmt.Sprint(err), "check --blobs and credentials") {
		t.Errorf("New with nobody at the endpoint: %v", err)
	}
}

func TestMissingBucket(t *testing.T) {
	sv := s3test.Env(t)
	_, err := s3.New(t.Context(), sv.Config("coffer-test-never-made"), sv.Getenv)
	wantKind(t, err, errs.NotFound, "New with a missing bucket")
	if err != nil && !strings.Contains(err.Error(), `bucket "coffer-test-never-made" does not exist`) {
		t.Errorf("New with a missing bucket: %v", err)
	}
}

// Answers 5xx are retried with backoff; when they persist the store reports the
// backend unavailable.
func TestServerErrorsRetried(t *testing.T) {
	sv := s3test.Env(t)
	cfg := sv.Config(sv.Bucket(t))
	cfg.Retries = 3
	var failures, tries atomic.Int64
	base := baseTransport()
	cfg.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodHead && strings.Count(r.URL.Path, "/") == 2 {
			tries.Add(1)
			if failures.Add(-1) >= 0 {
				return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable",
					Header:  http.Header{"Content-Type": {"application/xml"}},
					Body:    io.NopCloser(strings.NewReader("")),
					Request: r}, nil
			}
		}
		return base.RoundTrip(r)
	})
	s := sv.New(t, cfg)
	id := blob.NewID()
	put(t, s, id, []byte("data"))

	failures.Store(2)
	if n, err := s.Stat(t.Context(), id); n != 4 || err != nil {
		t.Errorf("Stat after two 503 answers = %d, %v; want 4, nil", n, err)
	}
	failures.Store(100)
	tries.Store(0)
	_, err := s.Stat(t.Context(), id)
	wantKind(t, err, errs.Unavailable, "Stat while S3 answers 503")
	if n := tries.Load(); n != int64(cfg.Retries) {
		t.Errorf("Stat while S3 answers 503 tried %d times, want %d", n, cfg.Retries)
	}
}

// When the answer to a Commit is lost, the client retries, and the retry finds the
// key taken by the first try: the writer recognises its own blob and succeeds.
func TestCommitAnswerLost(t *testing.T) {
	sv := s3test.Env(t)
	cfg := sv.Config(sv.Bucket(t))
	cfg.PartSize = 5 << 20
	var lose atomic.Int64
	base := baseTransport()
	cfg.Transport = roundTrip(func(r *http.Request) (*http.Response, error) {
		resp, err := base.RoundTrip(r)
		if err == nil && r.Header.Get("If-None-Match") == "*" && lose.Add(-1) >= 0 {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil, errors.New("connection reset (injected after the server answered)")
		}
		return resp, err
	})
	s := sv.New(t, cfg)
	for _, size := range []int{1000, 2*int(cfg.PartSize) + 1} {
		id := blob.NewID()
		data := randomBytes(uint64(size), size)
		lose.Store(1)
		put(t, s, id, data)
		if lose.Load() >= 0 {
			t.Fatalf("size %d: no answer was lost", size)
		}
		o, err := s.Open(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, size)
		if _, err := o.ReadAt(got, 0); err != nil && err != io.EOF || !bytes.Equal(got, data) {
			t.Errorf("size %d: blob read back differs (%v)", size, err)
		}
		o.Close()

		// Another writer of the same id, with other content, is still refused.
		w, _ := s.Create(t.Context(), id)
		w.Write(randomBytes(99, size))
		lose.Store(0)
		wantKind(t, w.Commit(), errs.Exist, fmt.Sprintf("size %d: second Commit of the id", size))
	}
}

// List reports only the blobs under the prefix, not other objects.
func TestListSkipsStrangers(t *testing.T) {
	sv := s3test.Env(t)
	cfg := sv.Config(sv.Bucket(t))
	cfg.Prefix = "blobs/"
	s := sv.New(t, cfg)
	c := sv.Client(t)
	id := blob.NewID()
	put(t, s, id, []byte("x"))
	for _, key := range []string{string(blob.NewID()), "blobs/not-a-blob", "blobs/sub/" + string(blob.NewID()),
		"blobs/" + strings.ToUpper(string(blob.NewID())), "blobsx" + string(blob.NewID())} {
		if _, err := c.PutObject(t.Context(), cfg.Bucket, key, strings.NewReader("s"), 1, "", "", minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []blob.ID
	if err := s.List(t.Context(), func(id blob.ID) error { got = append(got, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != id {
		t.Errorf("List = %v, want [%s]", got, id)
	}
}

// A blob that needs more parts than S3 allows fails as it is written, not at Commit,
// and one that needs exactly as many is committed.
func TestTooManyParts(t *testing.T) {
	sv := s3test.Env(t)
	cfg := sv.Config(sv.Bucket(t))
	cfg.PartSize = 5 << 20
	s := sv.New(t, cfg)
	s.SetMaxParts(2)
	data := randomBytes(9, 2*int(cfg.PartSize)+1)

	w, err := s.Create(t.Context(), blob.NewID())
	if err != nil {
		t.Fatal(err)
	}
	n, err := w.Write(data)
	wantKind(t, err, errs.TooLarge, "Write of a blob of more than 2 parts")
	if n != 2*int(cfg.PartSize) {
		t.Errorf("Write took %d bytes, want the %d that fit", n, 2*int(cfg.PartSize))
	}
	wantKind(t, w.Commit(), errs.TooLarge, "Commit after the blob grew too large")
	w.Abort()

	id := blob.NewID()
	put(t, s, id, data[:2*cfg.PartSize])
	if got, err := s.Stat(t.Context(), id); err != nil || got != 2*cfg.PartSize {
		t.Errorf("Stat of a blob of exactly 2 parts = %d, %v", got, err)
	}
	if left := incomplete(t, sv.Client(t), cfg.Bucket); len(left) != 0 {
		t.Errorf("uploads left: %v", left)
	}
}
