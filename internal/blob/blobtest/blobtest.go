// Package blobtest is the conformance suite for blob.Store: every implementation
// runs it from its own tests, so all of them keep the same contract.
//
//	func TestStore(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) blob.Store { return mem.New() })
//	}
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Run runs the suite against the stores newStore returns. It calls newStore once
// per subtest, from that subtest and possibly in parallel with others; each call
// must return an empty store, and register any cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, s blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"ParallelReadAt", testParallelReadAt},
		{"InvisibleBeforeCommit", testInvisibleBeforeCommit},
		{"Abort", testAbort},
		{"CommitTwice", testCommitTwice},
		{"Exist", testExist},
		{"InvalidID", testInvalidID},
		{"Delete", testDelete},
		{"Canceled", testCanceled},
		{"ConcurrentWriters", testConcurrentWriters},
		{"List", testList},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, newStore(t))
		})
	}
}

func testRoundTrip(t *testing.T, s blob.Store) {
	for _, size := range []int{0, 1, 1<<20 + 7} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			data := randomBytes(uint64(size), size)
			id := put(t, s, data)

			if got, err := s.Stat(ctx, id); err != nil || got != int64(size) {
				t.Fatalf("Stat = %d, %v; want %d, nil", got, err, size)
			}
			o, err := s.Open(ctx, id)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if got := o.Size(); got != int64(size) {
				t.Errorf("Size() = %d, want %d", got, size)
			}
			if got := readAt(t, o, size); !bytes.Equal(got, data) {
				t.Errorf("content differs from what was written (%d bytes read, %d written)", len(got), size)
			}

			checkReadAt := func(off int64, n int, wantN int, wantErr error) {
				t.Helper()
				p := make([]byte, n)
				gotN, err := o.ReadAt(p, off)
				endsAtEOF := off+int64(n) == int64(size)
				switch {
				case gotN != wantN:
					t.Errorf("ReadAt(%d bytes, off %d) read %d bytes, want %d", n, off, gotN, wantN)
				case err != wantErr && !(wantErr == nil && err == io.EOF && endsAtEOF):
					t.Errorf("ReadAt(%d bytes, off %d) error = %v, want %v", n, off, err, wantErr)
				case !bytes.Equal(p[:gotN], data[min(off, int64(size)):][:gotN]):
					t.Errorf("ReadAt(%d bytes, off %d) returned wrong bytes", n, off)
				}
			}
			if size > 2 {
				checkReadAt(1, size-2, size-2, nil) // inside: io.ReaderAt allows no EOF
			}
			checkReadAt(int64(size/2), size-size/2+5, size-size/2, io.EOF) // runs past the end
			checkReadAt(int64(size), 1, 0, io.EOF)
			checkReadAt(int64(size)+100, 1, 0, io.EOF)
			if _, err := o.ReadAt(make([]byte, 1), -1); err == nil {
				t.Errorf("ReadAt at offset -1 succeeded")
			}

			if err := o.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if _, err := o.ReadAt(make([]byte, 1), 0); err == nil || err == io.EOF {
				t.Errorf("ReadAt after Close: error = %v, want a failure", err)
			}
		})
	}
}

func testParallelReadAt(t *testing.T, s blob.Store) {
	data := randomBytes(1, 1<<20)
	o, err := s.Open(t.Context(), put(t, s, data))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 0))
			for range 50 {
				off := r.IntN(len(data))
				p := make([]byte, r.IntN(len(data)-off)+1)
				n, err := o.ReadAt(p, int64(off))
				if n != len(p) || (err != nil && err != io.EOF) || !bytes.Equal(p, data[off:off+len(p)]) {
					t.Errorf("parallel ReadAt(%d bytes, off %d) = %d, %v or wrong bytes", len(p), off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func testInvisibleBeforeCommit(t *testing.T, s blob.Store) {
	ctx := t.Context()
	id := blob.NewID()
	data := randomBytes(2, 100_000)
	w := create(t, s, id)
	writePieces(t, w, data)

	wantNotFound(t, s, id, "before Commit")
	if ids := list(t, s); ids != nil && slices.Contains(ids, id) {
		t.Errorf("List before Commit reports %s", id)
	}
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got, err := s.Stat(ctx, id); err != nil || got != int64(len(data)) {
		t.Errorf("Stat after Commit = %d, %v; want %d, nil", got, err, len(data))
	}
}

func testAbort(t *testing.T, s blob.Store) {
	id := blob.NewID()
	w := create(t, s, id)
	writePieces(t, w, randomBytes(3, 300_000))
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	wantNotFound(t, s, id, "after Abort")
	if err := w.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Errorf("Write after Abort succeeded")
	}
	if err := w.Commit(); err == nil {
		t.Errorf("Commit after Abort succeeded")
	}
	wantNotFound(t, s, id, "after Abort then Commit")

	// Abort left nothing behind that would stop the id from being used.
	data := randomBytes(4, 1000)
	putID(t, s, id, data)
	if got := read(t, s, id); !bytes.Equal(got, data) {
		t.Errorf("blob written after an aborted one differs")
	}

	// Abort with nothing written.
	w = create(t, s, blob.NewID())
	if err := w.Abort(); err != nil {
		t.Errorf("Abort of an empty writer: %v", err)
	}
}

func testCommitTwice(t *testing.T, s blob.Store) {
	id := blob.NewID()
	data := randomBytes(5, 70_000)
	w := create(t, s, id)
	writePieces(t, w, data)
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	_ = w.Commit() // harmless or an error, but the blob must stay intact
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if _, err := w.Write([]byte("more")); err == nil {
		t.Errorf("Write after Commit succeeded")
	}
	if got := read(t, s, id); !bytes.Equal(got, data) {
		t.Errorf("blob changed after a second Commit, an Abort and a Write (%d bytes, want %d)", len(got), len(data))
	}
}

func testExist(t *testing.T, s blob.Store) {
	ctx := t.Context()
	t.Run("AfterCommit", func(t *testing.T) {
		id := blob.NewID()
		original := randomBytes(6, 5000)
		putID(t, s, id, original)

		w, err := s.Create(ctx, id)
		if err == nil {
			writePieces(t, w, randomBytes(7, 9000))
			err = w.Commit()
			w.Abort()
		}
		wantKind(t, err, errs.Exist, "Create and Commit of a committed id")
		if got := read(t, s, id); !bytes.Equal(got, original) {
			t.Errorf("committed blob changed by a second writer")
		}
	})
	t.Run("CommittedMeanwhile", func(t *testing.T) {
		id := blob.NewID()
		first, second := randomBytes(8, 5000), randomBytes(9, 9000)
		w1 := create(t, s, id)
		w2, err := s.Create(ctx, id)
		if err != nil {
			// The store reserves ids of open writers; that is allowed.
			wantKind(t, err, errs.Exist, "Create of an id being written")
			w1.Abort()
			return
		}
		writePieces(t, w1, first)
		writePieces(t, w2, second)
		if err := w1.Commit(); err != nil {
			t.Fatalf("first Commit: %v", err)
		}
		wantKind(t, w2.Commit(), errs.Exist, "Commit of an id committed meanwhile")
		w2.Abort()
		if got := read(t, s, id); !bytes.Equal(got, first) {
			t.Errorf("committed blob changed by a second writer")
		}
	})
}

func testInvalidID(t *testing.T, s blob.Store) {
	ctx := t.Context()
	hex := "0123456789abcdef0123456789abcdef"
	for _, id := range []blob.ID{
		"",
		"../../etc/passwd",
		"ABC",
		blob.ID(hex[:31]),
		blob.ID(hex + "0"),
		blob.ID(hex[:31] + "/"),
		"0123456789ABCDEF0123456789ABCDEF",
		"../23456789abcdef0123456789abcdef",
		"01/3456789abcdef0123456789abcdef",
		blob.ID(hex[:31] + "\x00"),
	} {
		if w, err := s.Create(ctx, id); err == nil {
			w.Abort()
			t.Errorf("Create(%q) succeeded", id)
		} else {
			wantKind(t, err, errs.Invalid, fmt.Sprintf("Create(%q)", id))
		}
		if o, err := s.Open(ctx, id); err == nil {
			o.Close()
			t.Errorf("Open(%q) succeeded", id)
		} else {
			wantKind(t, err, errs.Invalid, fmt.Sprintf("Open(%q)", id))
		}
		_, err := s.Stat(ctx, id)
		wantKind(t, err, errs.Invalid, fmt.Sprintf("Stat(%q)", id))
		wantKind(t, s.Delete(ctx, id), errs.Invalid, fmt.Sprintf("Delete(%q)", id))
	}
}

func testDelete(t *testing.T, s blob.Store) {
	ctx := t.Context()
	id := put(t, s, randomBytes(10, 1234))
	if err := s.Delete(ctx, id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, s, id, "after Delete")
	if err := s.Delete(ctx, id); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if err := s.Delete(ctx, blob.NewID()); err != nil {
		t.Errorf("Delete of a blob that never existed: %v", err)
	}
	// The id may be used again.
	data := randomBytes(11, 10)
	putID(t, s, id, data)
	if got := read(t, s, id); !bytes.Equal(got, data) {
		t.Errorf("blob written after Delete differs")
	}
}

func testCanceled(t *testing.T, s blob.Store) {
	id := put(t, s, []byte("committed"))

	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()

	for name, ctx := range map[string]context.Context{"canceled": canceled, "expired": expired} {
		if w, err := s.Create(ctx, blob.NewID()); err == nil {
			w.Abort()
			t.Errorf("%s: Create succeeded", name)
		} else {
			wantKind(t, err, errs.Canceled, name+": Create")
		}
		if o, err := s.Open(ctx, id); err == nil {
			o.Close()
			t.Errorf("%s: Open succeeded", name)
		} else {
			wantKind(t, err, errs.Canceled, name+": Open")
		}
		_, err := s.Stat(ctx, id)
		wantKind(t, err, errs.Canceled, name+": Stat")
		wantKind(t, s.Delete(ctx, id), errs.Canceled, name+": Delete")
	}
	if got := read(t, s, id); string(got) != "committed" {
		t.Errorf("blob changed by canceled calls: %q", got)
	}

	// Canceled while writing: Commit fails and nothing becomes visible.
	ctx, cancel := context.WithCancel(t.Context())
	id = blob.NewID()
	w, err := s.Create(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	writePieces(t, w, randomBytes(12, 10_000))
	cancel()
	wantKind(t, w.Commit(), errs.Canceled, "Commit after cancel")
	w.Abort()
	wantNotFound(t, s, id, "after a canceled Commit")
}

func testConcurrentWriters(t *testing.T, s blob.Store) {
	const writers, perWriter = 8, 6
	var (
		mu      sync.Mutex
		written = make(map[blob.ID][]byte)
		wg      sync.WaitGroup
	)
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				data := randomBytes(uint64(100+g*perWriter+i), (g*perWriter+i)*21_011%300_000)
				id := blob.NewID()
				w, err := s.Create(t.Context(), id)
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				if err := writeAll(w, data); err != nil {
					w.Abort()
					t.Errorf("Write: %v", err)
					return
				}
				if err := w.Commit(); err != nil {
					t.Errorf("Commit: %v", err)
					return
				}
				mu.Lock()
				written[id] = data
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(written) != writers*perWriter {
		t.Fatalf("%d blobs committed, want %d", len(written), writers*perWriter)
	}
	for id, data := range written {
		wg.Go(func() {
			if got := read(t, s, id); !bytes.Equal(got, data) {
				t.Errorf("blob %s: read %d bytes that differ from the %d written", id, len(got), len(data))
			}
		})
	}
	wg.Wait()
	if ids := list(t, s); ids != nil {
		if !sameIDs(ids, slices.Collect(maps.Keys(written))) {
			t.Errorf("List after concurrent writes: %d ids, want the %d committed", len(ids), len(written))
		}
	}
}

func testList(t *testing.T, s blob.Store) {
	ctx := t.Context()
	lister, ok := s.(blob.Lister)
	if !ok {
		t.Skip("store does not implement blob.Lister")
	}
	if ids := list(t, s); len(ids) != 0 {
		t.Errorf("List of an empty store: %v", ids)
	}

	var want []blob.ID
	for i := range 20 {
		id := blob.NewID()
		switch i {
		case 0, 1: // share the first two digits, which file stores use to fan out
			id = "00" + id[2:]
		case 2:
			id = "ff" + id[2:]
		}
		putID(t, s, id, []byte{byte(i)})
		want = append(want, id)
	}
	deleted := put(t, s, []byte("deleted"))
	if err := s.Delete(ctx, deleted); err != nil {
		t.Fatal(err)
	}
	aborted := create(t, s, blob.NewID())
	writePieces(t, aborted, []byte("aborted"))
	aborted.Abort()
	pending := create(t, s, blob.NewID())
	writePieces(t, pending, []byte("pending"))
	defer pending.Abort()

	if got := list(t, s); !sameIDs(got, want) {
		t.Errorf("List = %v\nwant %v", got, want)
	}

	stop := errors.New("stop")
	calls := 0
	err := lister.List(ctx, func(blob.ID) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List with fn failing: %d calls, error %v; want 1 call, error %v", calls, err, stop)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	wantKind(t, lister.List(canceled, func(blob.ID) error { return nil }), errs.Canceled, "List with canceled ctx")
}

// put commits data under a new id and returns the id.
func put(t *testing.T, s blob.Store, data []byte) blob.ID {
	t.Helper()
	id := blob.NewID()
	putID(t, s, id, data)
	return id
}

func putID(t *testing.T, s blob.Store, id blob.ID, data []byte) {
	t.Helper()
	w := create(t, s, id)
	writePieces(t, w, data)
	if err := w.Commit(); err != nil {
		t.Fatalf("Commit %s: %v", id, err)
	}
}

func create(t *testing.T, s blob.Store, id blob.ID) blob.Writer {
	t.Helper()
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
	return w
}

func writePieces(t *testing.T, w blob.Writer, data []byte) {
	t.Helper()
	if err := writeAll(w, data); err != nil {
		w.Abort()
		t.Fatalf("Write: %v", err)
	}
}

// writeAll writes data in pieces of uneven sizes, as a network copy would.
func writeAll(w blob.Writer, data []byte) error {
	pieces := []int{1, 7, 4096, 65_537, blob.CopyBufferSize, 3, 100_003}
	for i := 0; len(data) > 0; i++ {
		p := data[:min(pieces[i%len(pieces)], len(data))]
		n, err := w.Write(p)
		if err != nil {
			return err
		}
		if n != len(p) {
			return fmt.Errorf("short write: %d of %d bytes, no error", n, len(p))
		}
		data = data[n:]
	}
	return nil
}

// read returns the whole committed blob id.
func read(t *testing.T, s blob.Store, id blob.ID) []byte {
	t.Helper()
	o, err := s.Open(t.Context(), id)
	if err != nil {
		t.Errorf("Open %s: %v", id, err)
		return nil
	}
	defer o.Close()
	return readAt(t, o, int(o.Size()))
}

// readAt reads size bytes from o in pieces, in order.
func readAt(t *testing.T, o blob.Object, size int) []byte {
	t.Helper()
	buf := make([]byte, size)
	for off := 0; off < size; {
		p := buf[off:min(off+100_000, size)]
		n, err := o.ReadAt(p, int64(off))
		off += n
		if n < len(p) || (err != nil && (err != io.EOF || off < size)) {
			t.Errorf("ReadAt(%d bytes, off %d) = %d, %v", len(p), off-n, n, err)
			return buf[:off]
		}
	}
	return buf
}

func wantNotFound(t *testing.T, s blob.Store, id blob.ID, when string) {
	t.Helper()
	o, err := s.Open(t.Context(), id)
	if err == nil {
		o.Close()
	}
	wantKind(t, err, errs.NotFound, "Open "+when)
	_, err = s.Stat(t.Context(), id)
	wantKind(t, err, errs.NotFound, "Stat "+when)
}

func wantKind(t *testing.T, err error, want errs.Kind, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one of kind %q", what, want)
	} else if got := errs.KindOf(err); got != want {
		t.Errorf("%s: error %q of kind %q, want kind %q", what, err, got, want)
	}
}

// list returns every id s lists, or nil if s is not a blob.Lister.
func list(t *testing.T, s blob.Store) []blob.ID {
	t.Helper()
	lister, ok := s.(blob.Lister)
	if !ok {
		return nil
	}
	ids := []blob.ID{}
	if err := lister.List(t.Context(), func(id blob.ID) error {
		ids = append(ids, id)
		return nil
	}); err != nil {
		t.Errorf("List: %v", err)
	}
	return ids
}

// sameIDs reports whether a and b hold the same ids, each once, in any order.
func sameIDs(a, b []blob.ID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func randomBytes(seed uint64, n int) []byte {
	var key [32]byte
	key[0], key[1] = byte(seed), byte(seed>>8)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}
