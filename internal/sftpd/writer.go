package sftpd

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/coffer-mft/coffer/internal/files"
)

// Bounds of the reorder buffer of an upload. SFTP clients send many writes at once
// (OpenSSH up to 64 × 64 KiB, the write length limits@openssh.com announces) and pkg/sftp
// runs them concurrently, so they arrive a little out of order; files.Create wants one
// ordered stream. Pieces ahead of the stream wait here, copied, up to these limits; a
// client that jumps further (or back) is refused: random-access writes are not
// supported (resuming an interrupted upload starts a new stream at its end).
const (
	maxPendingPieces = 64
	maxPendingBytes  = 4 << 20
)

// upload is the io.WriterAt of a file open for writing: an ordered stream into
// files.Create, which runs in its own goroutine from open to close. Nothing is visible
// until Close has returned nil.
type upload struct {
	path string
	pw   *io.PipeWriter
	done chan struct{} // closed when Create returned
	res  error         // Create's error, set before done is closed
	sess *session

	mu       sync.Mutex
	start    int64            // where the stream starts: the size of the partial upload it resumes, or 0
	pos      int64            // bytes handed to the stream so far (from the file's start)
	pending  map[int64][]byte // pieces beyond pos
	pendingN int
	failed   error // sticky: the first error, reported on every later call
	closed   bool
	mtime    time.Time // set by setstat while open; applied after the commit
}

// startUpload begins files.Create at path and returns once Create has either accepted
// the request (it reads the first byte) or refused it, so that permission and path
// errors are reported by the open, where clients expect them. An upload that the
// connection's end cuts off is kept as a partial upload; with resume, it continues the
// caller's partial upload of offset bytes at path.
func (s *session) startUpload(path string, resume bool, offset int64) (*upload, error) {
	pr, pw := io.Pipe()
	u := &upload{path: path, pw: pw, done: make(chan struct{}), pending: map[int64][]byte{}, sess: s, pos: offset, start: offset}
	reading := make(chan struct{})
	body := &firstRead{r: pr, first: reading}
	opt := files.CreateOptions{Size: -1, Resumable: true, Resume: resume, Offset: offset}
	go func() {
		defer close(u.done)
		_, err := s.srv.cfg.Files.Create(s.ctx, s.p, path, body, opt)
		u.res = err
		if err == nil {
			err = io.ErrClosedPipe
		}
		pr.CloseWithError(toStatus(err)) // unblocks a writer if Create stopped early
	}()
	select {
	case <-reading:
		return u, nil
	case <-u.done:
		return nil, s.report("upload", path, u.res)
	}
}

type firstRead struct {
	r     io.Reader
	first chan struct{}
	once  sync.Once
}

func (f *firstRead) Read(p []byte) (int, error) {
	f.once.Do(func() { close(f.first) })
	return f.r.Read(p)
}

func (u *upload) WriteAt(p []byte, off int64) (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.failed != nil {
		return 0, u.failed
	}
	if u.closed {
		return 0, status(sftp.ErrSSHFxFailure, "the file is closed")
	}
	switch {
	case off < u.pos && u.start > 0 && u.pos == u.start:
		return 0, u.fail(status(sftp.ErrSSHFxFailure, fmt.Sprintf(
			"write at offset %d, but the interrupted upload being resumed holds %d bytes: resume from byte %d (OpenSSH: reput), or upload the whole file again (put)", off, u.start, u.start)))
	case off < u.pos:
		return 0, u.fail(status(sftp.ErrSSHFxOpUnsupported, fmt.Sprintf(
			"write at offset %d, before the %d bytes already written: this server stores uploads as one sequential stream (no random-access writes); upload the whole file again", off, u.pos)))
	case off > u.pos:
		if _, dup := u.pending[off]; dup || len(u.pending) >= maxPendingPieces || u.pendingN+len(p) > maxPendingBytes || off-u.pos > maxPendingBytes {
			return 0, u.fail(status(sftp.ErrSSHFxOpUnsupported, fmt.Sprintf(
				"write at offset %d, too far beyond the %d bytes written so far: this server stores uploads as one sequential stream (no random-access writes; to continue an interrupted upload, resume from its size)", off, u.pos)))
		}
		u.pending[off] = append([]byte(nil), p...)
		u.pendingN += len(p)
		return len(p), nil
	}
	// In order: hand it to Create, then whatever waited for it. Holding mu while the
	// pipe blocks makes concurrent writers wait: that is the back-pressure.
	if err := u.write(p); err != nil {
		return 0, err
	}
	for {
		q, ok := u.pending[u.pos]
		if !ok {
			break
		}
		delete(u.pending, u.pos)
		u.pendingN -= len(q)
		if err := u.write(q); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (u *upload) write(p []byte) error {
	n, err := u.pw.Write(p)
	u.pos += int64(n)
	if err != nil {
		// Create stopped (quota, storage...): the pipe carries its error.
		<-u.done
		return u.fail(u.result(err))
	}
	return nil
}

// result is the error to report once Create has returned; fallback if it succeeded.
func (u *upload) result(fallback error) error {
	if u.res != nil {
		return u.sess.report("upload", u.path, u.res)
	}
	return fallback
}

func (u *upload) fail(err error) error {
	if u.failed == nil {
		u.failed = err
		u.pw.CloseWithError(err)
	}
	return u.failed
}

// TransferError is called by pkg/sftp when the session ends with the file open: the
// upload is incomplete and must not become visible.
func (u *upload) TransferError(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.fail(status(sftp.ErrSSHFxConnectionLost, "the connection was lost during the upload: "+err.Error()))
}

// written is the length of the upload so far.
func (u *upload) written() int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pos
}

// setModified records a modification time to apply when the upload is committed.
func (u *upload) setModified(t time.Time) {
	u.mu.Lock()
	u.mtime = t
	u.mu.Unlock()
}

// Close ends the stream, waits for Create and reports its outcome: only now is the file
// visible, and only if Close returns nil.
func (u *upload) Close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return u.failed
	}
	u.closed = true
	if u.failed == nil && len(u.pending) > 0 {
		u.fail(status(sftp.ErrSSHFxFailure, fmt.Sprintf("the upload has a gap at offset %d: nothing was stored", u.pos)))
	}
	failed := u.failed
	u.pending = nil
	if failed == nil {
		u.pw.Close()
	}
	mtime := u.mtime
	u.mu.Unlock()
	<-u.done
	u.sess.forget(u)
	if failed != nil {
		return failed
	}
	if u.res != nil {
		u.mu.Lock()
		u.failed = u.sess.report("upload", u.path, u.res)
		u.mu.Unlock()
		return u.failed
	}
	if !mtime.IsZero() {
		if err := u.sess.srv.cfg.Files.SetModified(context.WithoutCancel(u.sess.ctx), u.sess.p, u.path, mtime); err != nil {
			return u.sess.report("setstat", u.path, err)
		}
	}
	return nil
}

// ReadAt refuses reads of a file opened for writing (pkg/sftp's Client.Create opens
// read-write, so such opens are accepted for writing).
func (u *upload) ReadAt([]byte, int64) (int, error) {
	return 0, status(sftp.ErrSSHFxOpUnsupported, "a file open for writing cannot be read: close it and open it for reading")
}
