package files

import (
	"context"
	"errors"

	"github.com/coffer-mft/coffer/internal/blob"
)

// MaxInline is the size of the largest file whose payload is kept in its database row
// instead of a blob: one 64 KiB chunk (docs/format.md, "Small files"). Such a file is
// published by one commit, which also records its upload in the audit log: no pending
// row, no blob, no fsync of a blob and its directory.
const MaxInline = 64 << 10

// SetInlineMax sets the size of the largest file kept in its row, at most MaxInline
// (the default); 0 stores every file as a blob. Call it before the Service is used.
func (s *Service) SetInlineMax(n int64) { s.inlineMax = min(max(n, 0), MaxInline) }

// smallWriter is the blob writer of an upload that may turn out small. It holds the
// payload in memory while it fits a MaxInline file; the first byte beyond makes it a blob
// of the store, recorded as pending first like every blob, and the rest is written
// through. Memory is bounded by inlineLimit whatever the upload's size.
type smallWriter struct {
	ctx     context.Context // not canceled: the blob may be kept as a partial upload
	s       *Service
	id      blob.ID
	limit   int64 // the payload of a file of the Service's inlineMax
	buf     []byte
	w       blob.Writer // the blob, once spilled
	spilled bool        // a pending row or blob may exist: discard them on failure
}

func (s *Service) newSmallWriter(ctx context.Context, id blob.ID) *smallWriter {
	return &smallWriter{ctx: context.WithoutCancel(ctx), s: s, id: id, limit: 16 + s.inlineMax + 16}
}

func (w *smallWriter) Write(p []byte) (int, error) {
	if w.w == nil {
		if !w.spilled && int64(len(w.buf)+len(p)) <= w.limit {
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		if err := w.spill(); err != nil {
			return 0, err
		}
	}
	return w.w.Write(p)
}

// spill moves what was written so far into a new blob of the store.
func (w *smallWriter) spill() error {
	if w.spilled {
		return errSpill
	}
	w.spilled = true
	if err := w.s.db.Q().AddPending(w.ctx, string(w.id)); err != nil {
		return err
	}
	bw, err := w.s.blobs.Create(w.ctx, w.id)
	if err != nil {
		return err
	}
	if _, err := bw.Write(w.buf); err != nil {
		bw.Abort()
		return err
	}
	w.w, w.buf = bw, nil
	return nil
}

// Commit makes the payload a durable blob, even if it is small: a caller that commits
// it keeps it as the blob of a partial upload. A small upload that completes is not
// committed; its payload goes into its row (see payload).
func (w *smallWriter) Commit() error {
	if w.w == nil {
		if err := w.spill(); err != nil {
			return err
		}
	}
	return w.w.Commit()
}

func (w *smallWriter) Abort() error {
	w.buf = nil
	if w.w != nil {
		return w.w.Abort()
	}
	return nil
}

// payload returns the whole payload if it stayed in memory.
func (w *smallWriter) payload() ([]byte, bool) { return w.buf, !w.spilled }

var errSpill = errors.New("storing the upload failed earlier")

// inMemory reports whether nothing of st reached the blob store or the pending table,
// so that there is nothing to discard.
func (st *staged) inMemory() bool {
	if st == nil {
		return false
	}
	sw, ok := st.w.(*smallWriter)
	return ok && !sw.spilled
}
