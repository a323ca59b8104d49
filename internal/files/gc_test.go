package files_test

import (
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
)

func TestCollectGarbage(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		f.put(alice, "/kept", []byte("still here"))
		q := f.db.Q()
		kept, err := q.LookupChild(f.ctx, f.homeID(alice), 0, "kept")
		if err != nil {
			t.Fatal(err)
		}
		write := func(id blob.ID) {
			t.Helper()
			w, err := f.mem.Create(f.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte("leftover"))
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		// An upload abandoned by a crash after its blob was written...
		crashed := blob.NewID()
		if err := q.AddPending(f.ctx, string(crashed)); err != nil {
			t.Fatal(err)
		}
		write(crashed)
		// ...one abandoned before its first byte...
		if err := q.AddPending(f.ctx, string(blob.NewID())); err != nil {
			t.Fatal(err)
		}
		// ...a published blob whose pending row was not forgotten...
		if err := q.AddPending(f.ctx, kept.BlobID); err != nil {
			t.Fatal(err)
		}
		// ...and a blob unreferenced by a deletion that could not remove it.
		orphan := blob.NewID()
		write(orphan)
		if err := q.AddGarbage(f.ctx, string(orphan)); err != nil {
			t.Fatal(err)
		}
		if f.mem.Len() != 3 {
			t.Fatalf("set-up: %d blobs", f.mem.Len())
		}

		// Pending uploads younger than staleAfter may still be running.
		if n, err := f.svc.CollectGarbage(f.ctx, time.Hour); err != nil || n != 1 {
			t.Errorf("CollectGarbage(1h) = %d, %v; want 1 (the garbage only)", n, err)
		}
		if f.mem.Len() != 2 {
			t.Errorf("%d blobs after collecting garbage, want 2", f.mem.Len())
		}
		time.Sleep(2 * time.Millisecond) // pending rows are compared to the clock in microseconds
		if n, err := f.svc.CollectGarbage(f.ctx, 0); err != nil || n != 2 {
			t.Errorf("CollectGarbage(0) = %d, %v; want 2 (the two abandoned uploads)", n, err)
		}
		if f.mem.Len() != 1 {
			t.Errorf("%d blobs after collecting, want 1", f.mem.Len())
		}
		if got := f.get(alice, "/kept"); string(got) != "still here" {
			t.Errorf("/kept = %q", got)
		}
		if ids, err := q.PendingBefore(f.ctx, time.Now().Add(time.Hour), 10); err != nil || len(ids) != 0 {
			t.Errorf("pending rows left: %q, %v", ids, err)
		}
		if ids, err := q.ListGarbage(f.ctx, 10); err != nil || len(ids) != 0 {
			t.Errorf("garbage rows left: %q, %v", ids, err)
		}
		f.clean(1)
	})
}
