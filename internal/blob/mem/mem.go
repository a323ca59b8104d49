// Package mem is a blob.Store in memory: a real implementation, safe for concurrent
// use, that passes the same conformance suite as the others. Tests of other
// packages use it, and its fault injection, in place of a disk.
package mem

import (
	"context"
	"sync"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Store keeps committed blobs in a map. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	blobs   map[blob.ID][]byte // committed; never modified once stored
	pending int                // writers neither committed nor aborted

	writeLimit int64 // with writeErr set, the bytes any one Writer accepts
	writeErr   error
	commitErr  error
}

var (
	_ blob.Store  = (*Store)(nil)
	_ blob.Lister = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	return &Store{blobs: make(map[blob.ID][]byte)}
}

// FailWritesAfter makes every Writer, current and future, accept at most n bytes in
// total: the Write that would go past n stores what fits and returns err itself
// (not wrapped), as do all later Writes. Commit after such a failure returns err
// too. A nil err lifts the limit.
func (s *Store) FailWritesAfter(n int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeLimit, s.writeErr = n, err
}

// FailCommit makes every Commit, until FailCommit(nil), fail with err itself and
// discard its blob, as a Commit that fails does.
func (s *Store) FailCommit(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commitErr = err
}

// Len returns the number of committed blobs.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.blobs)
}

// Pending returns the number of Writers neither committed nor aborted (a failed
// Commit counts as ended). Tests assert it is 0 to find leaked writers.
func (s *Store) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Create starts a blob. It fails with errs.Exist at once if id is committed, and
// Commit checks again.
func (s *Store) Create(ctx context.Context, id blob.ID) (blob.Writer, error) {
	const op = errs.Op("mem.Create")
	if err := check(ctx, op, id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.blobs[id]; ok {
		return nil, errs.E(op, errs.Exist, "blob "+string(id))
	}
	s.pending++
	return &writer{s: s, ctx: ctx, id: id}, nil
}

// Open returns the committed blob id.
func (s *Store) Open(ctx context.Context, id blob.ID) (blob.Object, error) {
	const op = errs.Op("mem.Open")
	data, err := s.get(ctx, op, id)
	if err != nil {
		return nil, err
	}
	return blob.Bytes(data), nil
}

// Stat returns the size of the committed blob id.
func (s *Store) Stat(ctx context.Context, id blob.ID) (int64, error) {
	data, err := s.get(ctx, "mem.Stat", id)
	return int64(len(data)), err
}

func (s *Store) get(ctx context.Context, op errs.Op, id blob.ID) ([]byte, error) {
	if err := check(ctx, op, id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.blobs[id]
	if !ok {
		return nil, errs.E(op, errs.NotFound, "blob "+string(id))
	}
	return data, nil
}

// Delete removes the committed blob id; a missing blob is not an error.
func (s *Store) Delete(ctx context.Context, id blob.ID) error {
	if err := check(ctx, "mem.Delete", id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.blobs, id)
	return nil
}

// List calls fn for every blob committed when List was called. fn may use the store.
func (s *Store) List(ctx context.Context, fn func(blob.ID) error) error {
	const op = errs.Op("mem.List")
	if err := ctx.Err(); err != nil {
		return errs.E(op, errs.Canceled, err)
	}
	s.mu.Lock()
	ids := make([]blob.ID, 0, len(s.blobs))
	for id := range s.blobs {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return errs.E(op, errs.Canceled, err)
		}
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

func check(ctx context.Context, op errs.Op, id blob.ID) error {
	if !id.Valid() {
		return blob.InvalidID(op, id)
	}
	if err := ctx.Err(); err != nil {
		return errs.E(op, errs.Canceled, err)
	}
	return nil
}

type writerState uint8

const (
	writing writerState = iota
	committed
	failed
	aborted
)

// writer collects a blob's bytes; Write copies them, so the caller may reuse p.
type writer struct {
	s   *Store
	ctx context.Context
	id  blob.ID
	buf []byte

	state writerState
	err   error // the first Write error, then the failed Commit's
}

func (w *writer) Write(p []byte) (int, error) {
	if w.state != writing {
		return 0, errs.E(errs.Op("mem.Write"), "blob "+string(w.id)+": Write after Commit or Abort")
	}
	w.s.mu.Lock()
	limit, failErr := w.s.writeLimit, w.s.writeErr
	w.s.mu.Unlock()
	if failErr != nil {
		room := max(limit-int64(len(w.buf)), 0)
		if int64(len(p)) > room {
			w.buf = append(w.buf, p[:room]...)
			if w.err == nil {
				w.err = failErr
			}
			return int(room), failErr
		}
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *writer) Commit() error {
	const op = errs.Op("mem.Commit")
	switch w.state {
	case committed:
		return nil
	case failed:
		return w.err
	case aborted:
		return errs.E(op, "blob "+string(w.id)+": Commit after Abort")
	}
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending--
	var err error
	_, exists := s.blobs[w.id]
	switch {
	case w.ctx.Err() != nil:
		err = errs.E(op, errs.Canceled, w.ctx.Err())
	case w.err != nil:
		err = w.err
	case s.commitErr != nil:
		err = s.commitErr
	case exists:
		err = errs.E(op, errs.Exist, "blob "+string(w.id))
	}
	if err != nil {
		w.state, w.err, w.buf = failed, err, nil
		return err
	}
	// Write copied every byte into buf and nothing else holds it: the store takes it over.
	s.blobs[w.id] = w.buf
	w.state, w.buf = committed, nil
	return nil
}

func (w *writer) Abort() error {
	if w.state != writing {
		return nil
	}
	w.s.mu.Lock()
	w.s.pending--
	w.s.mu.Unlock()
	w.state, w.buf = aborted, nil
	return nil
}
