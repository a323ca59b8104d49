package mem_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/blob/blobtest"
	"github.com/coffer-mft/coffer/internal/blob/mem"
	"github.com/coffer-mft/coffer/internal/errs"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return mem.New() })
}

func TestFailWritesAfter(t *testing.T) {
	t.Parallel()
	s := mem.New()
	full := errs.E(errs.NoSpace, "disk full")
	s.FailWritesAfter(10, full)

	w, err := s.Create(t.Context(), blob.NewID())
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write(make([]byte, 6)); n != 6 || err != nil {
		t.Fatalf("first Write = %d, %v; want 6, nil", n, err)
	}
	if n, err := w.Write(make([]byte, 6)); n != 4 || err != full {
		t.Fatalf("Write past the limit = %d, %v; want 4, the injected error", n, err)
	}
	if n, err := w.Write(make([]byte, 1)); n != 0 || err != full {
		t.Errorf("Write after the failure = %d, %v; want 0, the injected error", n, err)
	}
	if err := w.Commit(); err != full {
		t.Errorf("Commit after a failed Write = %v, want the injected error", err)
	}
	if s.Len() != 0 || s.Pending() != 0 {
		t.Errorf("Len, Pending = %d, %d after a failed Commit; want 0, 0", s.Len(), s.Pending())
	}

	// The limit is per Writer, not per store.
	for range 3 {
		w, _ := s.Create(t.Context(), blob.NewID())
		if _, err := w.Write(make([]byte, 10)); err != nil {
			t.Fatalf("Write of exactly the limit: %v", err)
		}
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}

	s.FailWritesAfter(0, nil)
	id := blob.NewID()
	w, _ = s.Create(t.Context(), id)
	if _, err := w.Write(make([]byte, 1000)); err != nil {
		t.Errorf("Write with the limit lifted: %v", err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if size, _ := s.Stat(t.Context(), id); size != 1000 {
		t.Errorf("Stat = %d, want 1000", size)
	}
}

func TestFailWritesAfterAppliesToOpenWriters(t *testing.T) {
	t.Parallel()
	s := mem.New()
	w, _ := s.Create(t.Context(), blob.NewID())
	w.Write(make([]byte, 100))
	boom := errors.New("boom")
	s.FailWritesAfter(50, boom)
	if n, err := w.Write([]byte("x")); n != 0 || err != boom {
		t.Errorf("Write of a writer already past the new limit = %d, %v; want 0, boom", n, err)
	}
	w.Abort()
}

func TestFailCommit(t *testing.T) {
	t.Parallel()
	s := mem.New()
	boom := errors.New("boom")
	s.FailCommit(boom)

	id := blob.NewID()
	w, _ := s.Create(t.Context(), id)
	w.Write([]byte("data"))
	if err := w.Commit(); err != boom {
		t.Fatalf("Commit = %v, want the injected error", err)
	}
	if err := w.Commit(); err != boom {
		t.Errorf("second Commit = %v, want the injected error again", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after a failed Commit: %v", err)
	}
	if _, err := s.Stat(t.Context(), id); !errs.Is(errs.NotFound, err) {
		t.Errorf("Stat after a failed Commit: %v, want not found", err)
	}
	if s.Len() != 0 || s.Pending() != 0 {
		t.Errorf("Len, Pending = %d, %d; want 0, 0", s.Len(), s.Pending())
	}

	s.FailCommit(nil)
	w, _ = s.Create(t.Context(), id)
	w.Write([]byte("data"))
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit after FailCommit(nil): %v", err)
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1", s.Len())
	}
}

func TestPending(t *testing.T) {
	t.Parallel()
	s := mem.New()
	w1, _ := s.Create(t.Context(), blob.NewID())
	w2, _ := s.Create(t.Context(), blob.NewID())
	if got := s.Pending(); got != 2 {
		t.Errorf("Pending = %d with two open writers, want 2", got)
	}
	w1.Commit()
	w1.Commit()
	w2.Abort()
	w2.Abort()
	if s.Pending() != 0 || s.Len() != 1 {
		t.Errorf("Len, Pending = %d, %d; want 1, 0", s.Len(), s.Pending())
	}
}

// The store copies what it is given: a caller reusing its buffer changes nothing.
func TestWriteCopies(t *testing.T) {
	t.Parallel()
	s := mem.New()
	id := blob.NewID()
	w, _ := s.Create(t.Context(), id)
	buf := []byte("original")
	w.Write(buf)
	copy(buf, "XXXXXXXX")
	w.Commit()

	o, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, o.Size())
	o.ReadAt(got, 0)
	if !bytes.Equal(got, []byte("original")) {
		t.Errorf("blob = %q, want %q", got, "original")
	}
}
