package sftpd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/coffer-mft/coffer/internal/files"
)

// An upload is one ordered stream into files.Create, which runs in its own goroutine
// from open to close. The loop queues each WRITE's data, still in the packet that brought
// it (no copy), and answers it at once: the data is the upload's now, and an error in
// storing it is reported by a later WRITE and by CLOSE, which is where a client learns
// whether its file was stored (nothing is visible before CLOSE succeeded, whatever was
// answered).
//
// Clients write in order (OpenSSH up to 64 × 64 KiB, the write length limits@openssh.com
// announces, in flight); a write a little ahead of the stream (a client with concurrent
// writers) waits, copied, in a reorder buffer of up to these limits; a client that jumps
// further (or back) is refused: random-access writes are not supported (resuming an
// interrupted upload starts a new stream at its end). The copies count against the
// session until Create has read them (all its uploads together: maxPendingBytes), and
// against the server (maxReorderBytes), so that no client can make the server hold more
// by opening more files or sessions; a write past either limit fails its upload.
const (
	maxPendingPieces = 64
	maxPendingBytes  = 4 << 20
	maxReorderBytes  = 64 << 20
	uploadQueue      = 8 // WRITEs queued for files.Create; each holds its packet's budget
)

// piece is data for the stream, in the packet it came in (or, from the reorder buffer,
// in a copy of its own: pkt is then empty and held its length). packetSource.drop gives
// back what it holds.
type piece struct {
	data []byte
	pkt  inPacket
	held int
}

// upload is a file open for writing. Only the session's loop calls its methods; the
// goroutine running files.Create reads the queue through body.
type upload struct {
	path string
	sess *session
	q    chan piece    // closed by the loop (once: see endQueue)
	end  error         // what body returns after the last piece; set before q is closed
	qEnd bool          // q is closed
	done chan struct{} // closed when Create returned
	res  error         // Create's error, set before done is closed
	body *uploadBody

	start   int64           // where the stream starts: the size of the partial upload it resumes, or 0
	pos     int64           // bytes queued so far (from the file's start)
	pending map[int64]piece // pieces beyond pos, copied
	failed  error           // sticky: the first error, reported on every later call
	closed  bool
	mtime   time.Time // set by setstat while open; published with the file (ModifiedLate)
}

// startUpload begins files.Create at path and returns once Create has either accepted
// the request (path, permission and quota checked) or refused it, so that permission and
// path errors are reported by the open, where clients expect them. Create sets up the
// file's encryption while the client receives the handle. An upload that the
// session's end cuts off is kept as a partial upload; with resume, it continues the
// caller's partial upload of offset bytes at path.
func (s *session) startUpload(path string, resume bool, offset int64) (*upload, error) {
	u := &upload{path: path, sess: s, q: make(chan piece, uploadQueue), done: make(chan struct{}),
		pending: map[int64]piece{}, pos: offset, start: offset}
	u.body = &uploadBody{u: u}
	accepted := make(chan struct{})
	opt := files.CreateOptions{Size: -1, Resumable: true, Resume: resume, Offset: offset,
		Accepted: func() { close(accepted) },
		// Read by Create after the body's end, which close sends after any setstat.
		ModifiedLate: func() time.Time { return u.mtime }}
	// Not the connection's context: when the connection ends, the loop first hands Create
	// everything that was answered, then ends the body with the reason, and Create keeps
	// all of it as a partial upload.
	ctx := context.WithoutCancel(s.ctx)
	go func() {
		func() {
			defer func() {
				if v := recover(); v != nil {
					u.res = s.srv.bug("upload", v)
				}
			}()
			s.srv.hook("upload")
			_, u.res = s.srv.cfg.Files.Create(ctx, s.p, path, u.body, opt)
		}()
		// Give back at once what Create left unread (it stopped early: quota, storage):
		// those packets hold the session's request budget, and the loop, which learns
		// that Create stopped only at its next WRITE or CLOSE, cannot read either while
		// the budget is spent. What the loop queues until it closes q goes back too.
		s.src.drop(u.body.cur)
		u.body.cur = piece{}
		close(u.done)
		for pc := range u.q {
			s.src.drop(pc)
		}
	}()
	select {
	case <-accepted:
		return u, nil
	case <-u.done:
		return nil, s.report("upload", path, u.res)
	}
}

// uploadBody is the upload's content as files.Create reads it.
type uploadBody struct {
	u   *upload
	cur piece
}

func (b *uploadBody) Read(p []byte) (int, error) {
	for len(b.cur.data) == 0 {
		b.u.sess.src.drop(b.cur)
		b.cur = piece{}
		pc, ok := <-b.u.q
		if !ok {
			return 0, b.u.end
		}
		b.cur = pc
	}
	n := copy(p, b.cur.data)
	b.cur.data = b.cur.data[n:]
	return n, nil
}

// full reports whether queueing a piece would wait for Create.
func (u *upload) full() bool { return len(u.q) == cap(u.q) }

// write takes the data of a WRITE at off, and its packet, which it releases.
func (u *upload) write(pkt inPacket, data []byte, off int64) error {
	pc := piece{data: data, pkt: pkt}
	if u.failed != nil {
		u.sess.src.release(pkt)
		return u.failed
	}
	switch {
	case off < u.pos && u.start > 0 && u.pos == u.start:
		u.sess.src.release(pkt)
		return u.fail(status(fxFailure, fmt.Sprintf(
			"write at offset %d, but the interrupted upload being resumed holds %d bytes: resume from byte %d (OpenSSH: reput), or upload the whole file again (put)", off, u.start, u.start)))
	case off < u.pos:
		u.sess.src.release(pkt)
		return u.fail(status(fxOpUnsupported, fmt.Sprintf(
			"write at offset %d, before the %d bytes already written: this server stores uploads as one sequential stream (no random-access writes); upload the whole file again", off, u.pos)))
	case off > u.pos:
		if _, dup := u.pending[off]; dup || len(u.pending) >= maxPendingPieces || off-u.pos > maxPendingBytes {
			u.sess.src.release(pkt)
			return u.fail(status(fxOpUnsupported, fmt.Sprintf(
				"write at offset %d, too far beyond the %d bytes written so far: this server stores uploads as one sequential stream (no random-access writes; to continue an interrupted upload, resume from its size)", off, u.pos)))
		}
		if !u.sess.src.hold(len(data)) {
			u.sess.src.release(pkt)
			return u.fail(status(fxFailure, fmt.Sprintf(
				"write at offset %d, ahead of the %d bytes written so far, with too much already waiting for earlier writes (at most %d MiB per session, across its files): write each file in order, or with fewer writes in flight", off, u.pos, maxPendingBytes>>20)))
		}
		// Copied before the packet goes back: its buffer is the pool's, and another
		// session may read its next packet into it at once.
		u.pending[off] = piece{data: bytes.Clone(data), held: len(data)}
		u.sess.src.release(pkt)
		return nil
	}
	// In order: queue it, then whatever waited for it.
	if err := u.queue(pc); err != nil {
		return err
	}
	for {
		pc, ok := u.pending[u.pos]
		if !ok {
			return nil
		}
		delete(u.pending, u.pos)
		if err := u.queue(pc); err != nil {
			return err
		}
	}
}

// queue hands a piece to Create, waiting while the queue is full: that is the
// back-pressure on the client.
func (u *upload) queue(pc piece) error {
	if len(pc.data) == 0 {
		u.sess.src.drop(pc)
		return nil
	}
	select {
	case <-u.done:
	default:
		select {
		case u.q <- pc:
			u.pos += int64(len(pc.data))
			return nil
		case <-u.done:
		}
	}
	// Create stopped (quota, storage...): its error says why.
	u.sess.src.drop(pc)
	return u.fail(u.result(status(fxFailure, "the upload has ended")))
}

// result is the error to report once Create has returned; fallback if it succeeded.
func (u *upload) result(fallback error) error {
	if u.res != nil {
		return u.sess.report("upload", u.path, u.res)
	}
	return fallback
}

// fail makes err the upload's outcome and ends the body with it after what is queued:
// Create then keeps what it received as a partial upload, or discards it.
func (u *upload) fail(err error) error {
	if u.failed == nil {
		u.failed = err
		u.endQueue(err)
	}
	return u.failed
}

// endQueue closes the queue: body returns end after the pieces in it.
func (u *upload) endQueue(end error) {
	if !u.qEnd {
		u.qEnd = true
		u.end = end
		close(u.q)
	}
}

// written is the length of the upload so far.
func (u *upload) written() int64 { return u.pos }

// stopped returns why the upload cannot complete, if it is known already: a write that
// failed, or Create having returned an error (quota, storage). Else nil.
func (u *upload) stopped() error {
	if u.failed != nil {
		return u.failed
	}
	select {
	case <-u.done:
		if u.res != nil {
			return u.fail(u.result(nil))
		}
	default:
	}
	return nil
}

// close ends the stream, waits for Create and reports its outcome: only now is the file
// visible, and only if close returns nil.
func (u *upload) close() error {
	if u.closed {
		return u.failed
	}
	u.closed = true
	if u.failed == nil && len(u.pending) > 0 {
		u.fail(status(fxFailure, fmt.Sprintf("the upload has a gap at offset %d: nothing was stored", u.pos)))
	}
	for _, pc := range u.pending {
		u.sess.src.drop(pc)
	}
	u.pending = nil
	failed := u.failed
	u.endQueue(io.EOF) // Create's goroutine gives back what it leaves unread
	<-u.done
	if failed != nil {
		return failed
	}
	if u.res != nil {
		u.failed = u.sess.report("upload", u.path, u.res)
		return u.failed
	}
	return nil
}
