package local

import (
	"context"
	"errors"
	"io/fs"
	"os"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
)

type writerState uint8

const (
	writing writerState = iota
	committed
	failed // Commit was called and failed; the temporary file is gone
	aborted
)

// writer streams a blob into a temporary file. Like any io.Writer it is used by one
// goroutine at a time.
type writer struct {
	s   *Store
	ctx context.Context // Create's; Commit has none of its own
	id  blob.ID
	f   *os.File
	tmp string // the temporary file's name in the root

	state writerState
	err   error // the first Write error, then the failed Commit's

	written, flushed int64 // bytes written, and handed to the kernel's writeback
}

// flushEvery is how often a writer asks the kernel to start writing its data to disk.
// Without it, writeback of a large file starts only at Commit's fsync, which then waits
// for the whole file; with it, the disk works while the data still arrives.
const flushEvery = 8 << 20

// Write writes p straight to the temporary file: callers already write in large
// pieces, so another buffer would only copy.
func (w *writer) Write(p []byte) (int, error) {
	const op = errs.Op("local.Write")
	if w.state != writing {
		return 0, errs.E(op, "blob "+string(w.id)+": Write after Commit or Abort")
	}
	n, err := w.f.Write(p)
	if err != nil {
		err = w.s.fail(op, err)
		if w.err == nil {
			w.err = err
		}
	}
	w.written += int64(n)
	if w.written-w.flushed >= flushEvery {
		startWriteback(w.f, w.flushed, w.written-w.flushed)
		w.flushed = w.written
	}
	return n, err
}

// Commit makes the blob durable, then visible: fsync the file, rename it into
// data/, fsync data/'s fan-out directory. If Commit fails, nothing is visible and
// the temporary file is gone. A Commit after a failed Write fails with that error
// rather than commit a blob with a hole in it.
func (w *writer) Commit() error {
	const op = errs.Op("local.Commit")
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

	s := w.s
	if err := w.f.Sync(); err != nil {
		return w.fail(s.fail(op, err))
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return w.fail(s.fail(op, err))
	}
	if err := s.ensureFanout(w.id); err != nil {
		return w.fail(s.fail(op, err))
	}
	// Rename would silently replace an existing blob. Checking first is racy only
	// against another writer of the same id, which random ids rule out.
	if err := s.checkAbsent(op, w.id); err != nil {
		return w.fail(err)
	}
	if err := s.root.Rename(w.tmp, blobPath(w.id)); err != nil {
		return w.fail(s.fail(op, err))
	}
	if err := syncDir(s.root.Open(fanoutDir(w.id))); err != nil {
		// The blob is in place but might not survive a crash. Take it back, so that
		// a failed Commit always means no blob.
		s.root.Remove(blobPath(w.id))
		return w.fail(s.fail(op, err))
	}
	w.state = committed
	return nil
}

// Abort discards the temporary file.
func (w *writer) Abort() error {
	if w.state != writing {
		return nil
	}
	w.state = aborted
	return w.discard("local.Abort")
}

// fail ends a Commit that failed with err.
func (w *writer) fail(err error) error {
	w.discard("local.Commit")
	w.state = failed
	w.err = err
	return err
}

func (w *writer) discard(op errs.Op) error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	if err := w.s.root.Remove(w.tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return w.s.fail(op, err)
	}
	return nil
}
