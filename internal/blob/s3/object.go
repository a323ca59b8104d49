package s3

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Read-ahead: a read that continues where the previous one ended opens one GET of a
// window ahead of it, and the reads that follow are served from that response's
// body. The window starts at minWindow and doubles up to maxWindow with each GET, so
// that a short read costs little and a long download few requests. Nothing is
// buffered here: what the server sent ahead waits in the socket.
const (
	minWindow = 1 << 20
	maxWindow = 32 << 20
	// maxSkip is how far ahead of the stream a read may start and still be served
	// from it, the bytes in between being dropped.
	maxSkip = 256 << 10
)

// object is a committed blob open for reading. ReadAt is safe for concurrent use:
// one read at a time uses the read-ahead stream, others make their own request.
type object struct {
	s      *Store
	ctx    context.Context // Open's: every read request runs under it
	id     blob.ID
	size   int64
	etag   string // the version opened: a read of another one fails
	closed atomic.Bool

	mu     sync.Mutex    // guards what follows
	stream io.ReadCloser // the body of the read-ahead GET, or nil
	pos    int64         // the blob offset of the stream's next byte
	end    int64         // the end of the stream's range
	next   int64         // where the last read under mu ended; -1 before any
	window int64         // the range of the last read-ahead GET
}

func (o *object) Size() int64 { return o.size }

// ReadAt reads len(p) bytes at off, or up to the end of the blob (then with io.EOF).
func (o *object) ReadAt(p []byte, off int64) (int, error) {
	const op = errs.Op("s3.ReadAt")
	switch {
	case o.closed.Load():
		return 0, errs.E(op, "blob "+string(o.id)+": ReadAt after Close")
	case off < 0:
		return 0, errs.E(op, errs.Invalid, "negative offset")
	case off >= o.size:
		return 0, io.EOF
	}
	want := int(min(int64(len(p)), o.size-off))
	if want > 0 {
		var err error
		if o.mu.TryLock() {
			err = o.readLocked(p[:want], off)
			o.mu.Unlock()
		} else {
			err = o.readRange(p[:want], off)
		}
		if err != nil {
			return 0, err
		}
	}
	if want < len(p) {
		return want, io.EOF
	}
	return want, nil
}

// readLocked reads p at off through the read-ahead stream, opening one if the read
// continues the previous one.
func (o *object) readLocked(p []byte, off int64) error {
	sequential := off == o.next
	o.next = off + int64(len(p))
	if o.stream != nil && off >= o.pos && off-o.pos <= maxSkip && o.next <= o.end {
		n, err := o.fromStream(p, off)
		if err == nil {
			return nil
		}
		// The connection broke: ask again for the rest, with the client's retries.
		return o.readRange(p[n:], off+int64(n))
	}
	var end int64
	switch {
	case off == 0:
		// How a reader of the whole blob begins (the payload's nonce): one GET of all
		// of it, which costs one request, and which a server serves best (versitygw
		// sends a whole object with sendfile, a range by copying). The reads at open
		// that follow elsewhere (the last chunk) leave it for the reads after them.
		end = o.size
	case !sequential:
		o.window = 0
		return o.readRange(p, off)
	default:
		o.window = min(max(2*o.window, minWindow), maxWindow)
		end = min(off+max(o.window, int64(len(p))), o.size)
	}
	o.dropStream()
	body, err := o.get(off, end)
	if err != nil {
		return err
	}
	o.stream, o.pos, o.end = body, off, end
	n, err := o.fromStream(p, off)
	if err != nil {
		return o.readRange(p[n:], off+int64(n))
	}
	return nil
}

// fromStream reads p at off from the stream, which is at or shortly before off.
// On error the stream is dropped; n says how much of p was read.
func (o *object) fromStream(p []byte, off int64) (n int, err error) {
	if skip := off - o.pos; skip > 0 {
		if _, err = io.CopyN(io.Discard, o.stream, skip); err != nil {
			o.dropStream()
			return 0, err
		}
	}
	n, err = io.ReadFull(o.stream, p)
	o.pos = off + int64(n)
	if err != nil || o.pos == o.end {
		o.dropStream()
	}
	return n, err
}

func (o *object) dropStream() {
	if o.stream != nil {
		o.stream.Close()
		o.stream = nil
	}
}

// readRange reads p at off with a GET of exactly that range.
func (o *object) readRange(p []byte, off int64) error {
	const op = errs.Op("s3.ReadAt")
	// A body cut off is not retried by the client, which retries only requests.
	for try := 1; ; try++ {
		body, err := o.get(off, off+int64(len(p)))
		if err != nil {
			return err
		}
		n, err := io.ReadFull(body, p)
		body.Close()
		if err == nil {
			return nil
		}
		if try == o.s.cfg.Retries || o.ctx.Err() != nil {
			return o.s.fail(o.ctx, op, err)
		}
		p, off = p[n:], off+int64(n)
	}
}

// get starts a GET of the bytes [start, end) of the version opened.
func (o *object) get(start, end int64) (io.ReadCloser, error) {
	const op = errs.Op("s3.ReadAt")
	var opts minio.GetObjectOptions
	if start > 0 || end < o.size {
		if err := opts.SetRange(start, end-1); err != nil {
			return nil, errs.E(op, err)
		}
	}
	if o.etag != "" {
		if err := opts.SetMatchETag(o.etag); err != nil {
			return nil, errs.E(op, err)
		}
	}
	body, _, _, err := o.s.client.GetObject(o.ctx, o.s.cfg.Bucket, o.s.key(o.id), opts)
	if err != nil {
		if isPreconditionFailed(err) {
			return nil, errs.E(op, errs.Integrity, errors.New("blob "+string(o.id)+" was replaced since it was opened"))
		}
		return nil, o.s.failBlob(o.ctx, op, o.id, err)
	}
	return body, nil
}

// Close ends the read-ahead request. Reads after Close fail.
func (o *object) Close() error {
	o.closed.Store(true)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropStream()
	return nil
}
