package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
)

type writerState uint8

const (
	writing writerState = iota
	committed
	failed // Commit was called and failed; the upload is gone
	aborted
)

// writer streams a blob to S3. It fills one part buffer at a time; a full part is
// sent in the background while the next one fills, at most Config.Uploads at once,
// and its buffer reused once sent. A blob smaller than a part is sent in one PUT at
// Commit. Like any io.Writer it is used by one goroutine at a time.
type writer struct {
	s   *Store
	ctx context.Context // Create's; Commit and Abort have none of their own
	id  blob.ID
	key string

	// upCtx is ctx, canceled by discard to stop part uploads in flight.
	upCtx  context.Context
	cancel context.CancelFunc

	buf      []byte // the part being filled
	uploadID string // of the multipart upload, once the first part is full
	sent     int    // parts handed to uploads
	slots    chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex // guards what part uploads report
	done  []minio.CompletePart
	upErr error    // the first failed part upload's
	free  [][]byte // buffers of parts sent, for the next ones
	bufs  int      // whole part buffers allocated, for tests

	state writerState
	err   error // the first Write error, then the failed Commit's
}

func newWriter(s *Store, ctx context.Context, id blob.ID) *writer {
	upCtx, cancel := context.WithCancel(ctx)
	return &writer{s: s, ctx: ctx, id: id, key: s.key(id), upCtx: upCtx, cancel: cancel,
		slots: make(chan struct{}, s.cfg.Uploads)}
}

// Write copies p into the current part, sending each part as it fills. It returns
// an error once a part upload has failed, or when the blob would need more than
// S3's 10,000 parts.
func (w *writer) Write(p []byte) (int, error) {
	const op = errs.Op("s3.Write")
	if w.state != writing {
		return 0, errs.E(op, "blob "+string(w.id)+": Write after Commit or Abort")
	}
	if w.err != nil {
		return 0, w.err
	}
	if err := w.uploadError(); err != nil {
		w.err = err
		return 0, err
	}
	partSize := int(w.s.cfg.PartSize)
	n := 0
	for len(p) > 0 {
		if len(w.buf) == partSize {
			if w.sent == w.s.maxParts-1 {
				// This full buffer would be the last part S3 allows, and more follows.
				w.err = errs.E(op, errs.TooLarge, fmt.Sprintf("blob %s: larger than S3's limit of %d parts of %d bytes: raise part-size in --blobs", w.id, w.s.maxParts, partSize))
				return n, w.err
			}
			if err := w.sendPart(); err != nil {
				w.err = err
				return n, err
			}
		}
		w.grow(min(len(w.buf)+len(p), partSize))
		m := copy(w.buf[len(w.buf):cap(w.buf)], p)
		w.buf = w.buf[:len(w.buf)+m]
		p = p[m:]
		n += m
	}
	return n, nil
}

// grow makes room for need bytes in buf. The first part grows by doubling, so that
// a small blob holds little memory; later parts take a whole buffer at once,
// reusing those of parts already sent.
func (w *writer) grow(need int) {
	if need <= cap(w.buf) {
		return
	}
	partSize := int(w.s.cfg.PartSize)
	w.mu.Lock()
	defer w.mu.Unlock()
	var nb []byte
	switch {
	case len(w.free) > 0:
		nb, w.free = w.free[len(w.free)-1][:0], w.free[:len(w.free)-1]
	case w.sent > 0:
		nb = make([]byte, 0, partSize)
		w.bufs++
	default:
		nb = make([]byte, 0, min(max(2*cap(w.buf), need, 64<<10), partSize))
		if cap(nb) == partSize {
			w.bufs++
		}
	}
	w.buf = append(nb, w.buf...)
}

// sendPart starts the upload of the full buffer as the next part, waiting for a
// free upload slot first.
func (w *writer) sendPart() error {
	const op = errs.Op("s3.Write")
	if w.uploadID == "" {
		id, err := w.s.client.NewMultipartUpload(w.upCtx, w.s.cfg.Bucket, w.key, minio.PutObjectOptions{})
		if err != nil {
			return w.s.fail(w.upCtx, op, err)
		}
		w.uploadID = id
	}
	select {
	case w.slots <- struct{}{}:
	case <-w.upCtx.Done():
		return errs.E(op, errs.Canceled, w.upCtx.Err())
	}
	w.sent++
	number, part := w.sent, w.buf
	w.buf = nil
	w.wg.Go(func() {
		defer func() { <-w.slots }()
		ctx, cancel := context.WithTimeout(w.upCtx, sendTimeout)
		defer cancel()
		info, err := w.s.client.PutObjectPart(ctx, w.s.cfg.Bucket, w.key, w.uploadID, number,
			bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{})
		w.mu.Lock()
		defer w.mu.Unlock()
		if err != nil {
			if w.upErr == nil {
				w.upErr = w.s.fail(w.upCtx, op, err)
			}
		} else {
			w.done = append(w.done, minio.CompletePart{PartNumber: number, ETag: info.ETag})
		}
		w.free = append(w.free, part)
	})
	return nil
}

// uploadError returns the first failure of a part upload.
func (w *writer) uploadError() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.upErr
}

// Commit sends what is left and makes the blob visible: a conditional PUT for a
// blob of less than a part, else the last part and the completion of the multipart
// upload. It returns once S3 has acknowledged the object. If Commit fails, nothing
// is visible and the upload is gone. A Commit after a failed Write fails with that
// error rather than commit a blob with a hole in it.
func (w *writer) Commit() error {
	const op = errs.Op("s3.Commit")
	switch w.state {
	case committed:
		return nil
	case failed:
		return w.err
	case aborted:
		return errs.E(op, "blob "+string(w.id)+": Commit after Abort")
	}
	if err := w.ctx.Err(); err != nil {
		return w.fail(errs.E(op, errs.Canceled, err))
	}
	if w.err != nil {
		return w.fail(w.err)
	}
	var err error
	if w.uploadID == "" {
		err = w.put()
	} else {
		err = w.complete()
	}
	if err != nil {
		return w.fail(err)
	}
	w.state = committed
	w.cancel()
	w.buf, w.free = nil, nil
	return nil
}

// ifAbsent makes a write conditional on the key being free.
func ifAbsent() minio.PutObjectOptions {
	var opts minio.PutObjectOptions
	opts.SetMatchETagExcept("*")
	return opts
}

// put sends a blob of less than a part in one PUT.
func (w *writer) put() error {
	const op = errs.Op("s3.Commit")
	ctx, cancel := context.WithTimeout(w.ctx, sendTimeout)
	defer cancel()
	_, err := w.s.client.PutObject(ctx, w.s.cfg.Bucket, w.key, bytes.NewReader(w.buf), int64(len(w.buf)), "", "", ifAbsent())
	if err == nil {
		return nil
	}
	if isPreconditionFailed(err) {
		// The client retries a PUT whose answer was lost; the retry then finds the
		// key taken by the first try. The blob is ours if it has our content.
		sum := md5.Sum(w.buf)
		if w.isOurs(hex.EncodeToString(sum[:])) {
			return nil
		}
		return errs.E(op, errs.Exist, "blob "+string(w.id))
	}
	return w.s.fail(w.ctx, op, err)
}

// complete sends the last part, waits for all parts and completes the upload.
func (w *writer) complete() error {
	const op = errs.Op("s3.Commit")
	if len(w.buf) > 0 {
		if err := w.sendPart(); err != nil {
			return err
		}
	}
	w.wg.Wait()
	if err := w.uploadError(); err != nil {
		return err
	}
	parts := slices.SortedFunc(slices.Values(w.done), func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
	ctx, cancel := context.WithTimeout(w.ctx, sendTimeout)
	defer cancel()
	_, err := w.s.client.CompleteMultipartUpload(ctx, w.s.cfg.Bucket, w.key, w.uploadID, parts, ifAbsent())
	if err == nil {
		return nil
	}
	// As for put: a retried completion finds the key taken or the upload gone when
	// the first try succeeded.
	if isPreconditionFailed(err) || minio.ToErrorResponse(err).Code == "NoSuchUpload" {
		if w.isOurs(multipartETag(parts)) {
			w.uploadID = "" // completed: nothing to abort
			return nil
		}
		if isPreconditionFailed(err) {
			return errs.E(op, errs.Exist, "blob "+string(w.id))
		}
	}
	return w.s.fail(w.ctx, op, err)
}

// isOurs reports whether the object at the writer's key has the ETag that S3 gives
// the content written (the MD5 of a single PUT, or the multipartETag of the parts). A server with other ETags makes it false: the writer then
// reports the id taken, never a blob that is not its own as committed.
func (w *writer) isOurs(etag string) bool {
	if etag == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
	defer cancel()
	info, err := w.s.client.StatObject(ctx, w.s.cfg.Bucket, w.key, minio.StatObjectOptions{})
	return err == nil && strings.Trim(info.ETag, `"`) == etag
}

// multipartETag is the ETag S3 gives an object completed from parts, computed from
// the parts' ETags, which are their MD5s. Where they are not (some encryption modes,
// some servers), the result matches nothing, which is safe.
func multipartETag(parts []minio.CompletePart) string {
	h := md5.New()
	for _, p := range parts {
		sum, err := hex.DecodeString(strings.Trim(p.ETag, `"`))
		if err != nil || len(sum) != md5.Size {
			return ""
		}
		h.Write(sum)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts))
}

// Abort discards everything written: it stops the part uploads in flight and
// aborts the multipart upload. If S3 cannot be told, the upload is left for
// AbortStale.
func (w *writer) Abort() error {
	if w.state != writing {
		return nil
	}
	w.state = aborted
	return w.discard()
}

// fail ends a Commit that failed with err.
func (w *writer) fail(err error) error {
	w.discard()
	w.state = failed
	w.err = err
	return err
}

func (w *writer) discard() error {
	w.cancel()
	w.wg.Wait()
	w.buf, w.free = nil, nil
	if w.uploadID == "" {
		return nil
	}
	// Even when the writer's ctx has ended: else the parts would stay, and be billed,
	// until AbortStale.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
	defer cancel()
	err := w.s.client.AbortMultipartUpload(ctx, w.s.cfg.Bucket, w.key, w.uploadID)
	w.uploadID = ""
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return w.s.fail(ctx, "s3.Abort", err)
	}
	return nil
}
