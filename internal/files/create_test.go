package files_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/blob/mem"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

func TestCreateOpenRoundTrip(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		sizes := []int{0, 1, 64 << 10, 1<<20 + 3}
		for i, size := range sizes {
			t.Run(fmt.Sprint(size), func(t *testing.T) {
				data := randomBytes(size)
				sum := sha256.Sum256(data)
				path := fmt.Sprintf("/file-%d.bin", size)
				before := time.Now().Add(-time.Second)
				e := f.put(alice, path, data)
				if e.Path != path || e.Name != path[1:] || e.IsDir || e.Size != int64(size) || !bytes.Equal(e.SHA256, sum[:]) {
					t.Errorf("Create returned %+v; want path %s, size %d, sha256 %x", e, path, size, sum)
				}
				if e.Modified.Before(before) || e.Created.Before(before) {
					t.Errorf("times %v, %v are not now", e.Created, e.Modified)
				}

				st, err := f.svc.Stat(f.ctx, alice, path)
				if err != nil {
					t.Fatal(err)
				}
				if st.Size != int64(size) || !bytes.Equal(st.SHA256, sum[:]) || st.IsDir || st.Path != path {
					t.Errorf("Stat = %+v; want size %d, sha256 %x", st, size, sum)
				}
				if !st.Modified.Equal(e.Modified) || !st.Created.Equal(e.Created) {
					t.Errorf("Stat times %v, %v differ from those Create returned, %v, %v", st.Created, st.Modified, e.Created, e.Modified)
				}

				r, err := f.svc.Open(f.ctx, alice, path)
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				if r.Size() != int64(size) || !bytes.Equal(r.Entry.SHA256, sum[:]) {
					t.Errorf("Reader: size %d, sha256 %x; want %d, %x", r.Size(), r.Entry.SHA256, size, sum)
				}
				all, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
				if err != nil || !bytes.Equal(all, data) {
					t.Fatalf("content differs (err %v, got %d bytes, want %d)", err, len(all), size)
				}
				for _, rg := range []struct{ off, n int }{
					{0, 1}, {0, 10}, {size / 2, 100}, {64<<10 - 7, 14}, {size - 5, 5}, {size - 3, 10}, {size, 1}, {size + 10, 1},
				} {
					if rg.off < 0 {
						continue
					}
					buf := make([]byte, rg.n)
					n, err := r.ReadAt(buf, int64(rg.off))
					want := data[min(rg.off, size):min(rg.off+rg.n, size)]
					if n != len(want) || !bytes.Equal(buf[:n], want) {
						t.Errorf("ReadAt(%d bytes at %d) = %d bytes, want %d", rg.n, rg.off, n, len(want))
					}
					if n < rg.n && err != io.EOF {
						t.Errorf("ReadAt(%d bytes at %d) short read with error %v; want io.EOF", rg.n, rg.off, err)
					}
					if n == rg.n && err != nil && err != io.EOF {
						t.Errorf("ReadAt(%d bytes at %d): %v", rg.n, rg.off, err)
					}
				}
				if f.mem.Len() != i+1 {
					t.Errorf("the store holds %d blobs after %d files", f.mem.Len(), i+1)
				}
			})
		}
	})
}

func TestCreateReplaces(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		first := f.put(alice, "/report.csv", randomBytes(1000))
		time.Sleep(2 * time.Millisecond)
		second := randomBytes(500)
		e := f.put(alice, "/report.csv", second)
		if got := f.get(alice, "/report.csv"); !bytes.Equal(got, second) {
			t.Error("the file does not hold the new content")
		}
		if e.Size != 500 || !e.Created.Equal(first.Created) || !e.Modified.After(first.Modified) {
			t.Errorf("replaced entry %+v; want size 500, created %v kept, modified later than %v", e, first.Created, first.Modified)
		}
		if used, _, _ := f.svc.Usage(f.ctx, alice); used != 500 {
			t.Errorf("Usage = %d after replacing 1000 bytes by 500", used)
		}
		f.clean(1) // the old blob was collected
	})
}

func TestCreateRefusesMismatch(t *testing.T) {
	t.Parallel()
	data := randomBytes(200 << 10)
	good := sha256.Sum256(data)
	bad := sha256.Sum256([]byte("something else"))
	cases := []struct {
		name string
		opt  files.CreateOptions
		want errs.Kind
	}{
		{"body shorter than announced", files.CreateOptions{Size: int64(len(data)) + 1}, errs.Integrity},
		{"body longer than announced", files.CreateOptions{Size: int64(len(data)) - 1}, errs.Integrity},
		{"body much longer than announced", files.CreateOptions{Size: 10}, errs.Integrity},
		{"wrong digest", files.CreateOptions{Size: int64(len(data)), SHA256: bad[:]}, errs.Integrity},
		{"wrong digest, unknown size", files.CreateOptions{Size: -1, SHA256: bad[:]}, errs.Integrity},
		{"short digest", files.CreateOptions{Size: -1, SHA256: good[:31]}, errs.Invalid},
	}
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := f.svc.Create(f.ctx, alice, "/x.bin", bytes.NewReader(data), c.opt)
				wantKind(t, "Create", err, c.want)
				f.absent(alice, "/x.bin")
				f.clean(0)
				if used, _, _ := f.svc.Usage(f.ctx, alice); used != 0 {
					t.Errorf("Usage = %d after a refused upload", used)
				}
				if rec := f.lastRecord(audit.ActFileUpload, "/x.bin"); rec.Result == audit.OK {
					t.Errorf("refused upload audited as %q", rec.Result)
				}
			})
		}
		opt := files.CreateOptions{Size: int64(len(data)), SHA256: good[:]}
		if _, err := f.svc.Create(f.ctx, alice, "/x.bin", bytes.NewReader(data), opt); err != nil {
			t.Fatalf("the right digest is refused: %v", err)
		}
	})
}

// TestCreateAtomic: an upload that fails in any way leaves the previous content in
// place, unchanged usage, and no data or bookkeeping behind.
func TestCreateAtomic(t *testing.T) {
	t.Parallel()
	full := errs.E(errs.NoSpace, "disk full")
	cases := []struct {
		name   string
		fault  func(f *fixture)
		body   func(cancel context.CancelFunc, data []byte) io.Reader
		want   errs.Kind
		wantIs error
	}{
		{
			name: "client disconnects",
			body: func(_ context.CancelFunc, data []byte) io.Reader {
				return &failingReader{r: bytes.NewReader(data), after: 300 << 10, err: errors.New("connection reset by peer")}
			},
			want: errs.Canceled, wantIs: files.ErrBodyRead,
		},
		{
			name: "client disconnects before the first byte",
			body: func(_ context.CancelFunc, data []byte) io.Reader {
				return &failingReader{r: bytes.NewReader(data), err: io.ErrClosedPipe}
			},
			want: errs.Canceled, wantIs: files.ErrBodyRead,
		},
		{
			name:  "store full at once",
			fault: func(f *fixture) { f.mem.FailWritesAfter(0, full) },
			want:  errs.NoSpace,
		},
		{
			name:  "store full mid-way",
			fault: func(f *fixture) { f.mem.FailWritesAfter(500<<10, full) },
			want:  errs.NoSpace,
		},
		{
			name:  "store fails to commit",
			fault: func(f *fixture) { f.mem.FailCommit(errs.E(errs.Unavailable, "backend went away")) },
			want:  errs.Unavailable,
		},
		{
			name: "request canceled mid-way",
			body: func(cancel context.CancelFunc, data []byte) io.Reader {
				return &cancelingReader{r: bytes.NewReader(data), after: 300 << 10, cancel: cancel}
			},
			want: errs.Canceled,
		},
		{
			name: "request canceled before",
			body: func(cancel context.CancelFunc, data []byte) io.Reader {
				cancel()
				return bytes.NewReader(data)
			},
			want: errs.Canceled,
		},
	}
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		old := randomBytes(1000)
		f.put(alice, "/data.bin", old)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				data := randomBytes(1 << 20)
				if c.fault != nil {
					c.fault(f)
				}
				// Once over an existing file, once where there is none.
				for _, path := range []string{"/data.bin", "/new.bin"} {
					ctx, cancel := context.WithCancel(f.ctx)
					var body io.Reader = bytes.NewReader(data)
					if c.body != nil {
						body = c.body(cancel, data)
					}
					_, err := f.svc.Create(ctx, alice, path, body, files.CreateOptions{Size: -1})
					cancel()
					wantKind(t, "Create "+path, err, c.want)
					if c.wantIs != nil && !errors.Is(err, c.wantIs) {
						t.Errorf("Create %s = %v; want an error wrapping %v", path, err, c.wantIs)
					}
				}
				f.mem.FailWritesAfter(0, nil)
				f.mem.FailCommit(nil)
				if got := f.get(alice, "/data.bin"); !bytes.Equal(got, old) {
					t.Error("a failed replacement changed the file")
				}
				f.absent(alice, "/new.bin")
				f.clean(1)
				if used, _, _ := f.svc.Usage(f.ctx, alice); used != int64(len(old)) {
					t.Errorf("Usage = %d after failed uploads; want %d", used, len(old))
				}
				if rec := f.lastRecord(audit.ActFileUpload, "/new.bin"); rec.Result != audit.Failed {
					t.Errorf("failed upload audited as %q, want %q", rec.Result, audit.Failed)
				}
			})
		}
		f.verifyAudit()
	})
}

// TestCreateDiscardRetriedByGC: when the store cannot delete a refused upload's blob at
// once, the garbage collector must still find it later.
func TestCreateDiscardRetriedByGC(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ms := mem.New()
		m := &faultyStore{Store: ms}
		f := newFixture(t, dsn, m)
		alice := f.user("alice", 0)
		f.put(alice, "/a", []byte("version one"))
		m.failDelete.Store(true)
		bad := sha256.Sum256([]byte("not it"))
		_, err := f.svc.Create(f.ctx, alice, "/b", bytes.NewReader([]byte("payload")), files.CreateOptions{Size: 7, SHA256: bad[:]})
		wantKind(t, "Create with a wrong digest", err, errs.Integrity)
		f.put(alice, "/a", []byte("version two")) // the old blob cannot be deleted now
		m.failDelete.Store(false)

		n, err := f.svc.CollectGarbage(f.ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("CollectGarbage removed %d blobs, want 2 (the refused upload and the replaced version)", n)
		}
		if got := ms.Len(); got != 1 {
			t.Errorf("the store holds %d blobs, want 1", got)
		}
		if got := f.get(alice, "/a"); string(got) != "version two" {
			t.Errorf("/a = %q", got)
		}
	})
}

func TestQuota(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 1000)
		team := f.folder("team", 700)
		f.grant(team, alice, allPerms)
		usage := func(wantHome, wantTeam int64) {
			t.Helper()
			used, quota, err := f.svc.Usage(f.ctx, alice)
			if err != nil || used != wantHome || quota != 1000 {
				t.Errorf("Usage = %d, %d, %v; want %d of 1000", used, quota, err, wantHome)
			}
			if got := f.used(team); got != wantTeam {
				t.Errorf("team uses %d bytes, want %d", got, wantTeam)
			}
		}

		f.put(alice, "/a", randomBytes(600))
		usage(600, 0)

		_, err := f.svc.Create(f.ctx, alice, "/b", untouchable{t}, files.CreateOptions{Size: 600})
		wantKind(t, "Create over quota with the size known", err, errs.Quota)
		_, err = f.svc.Create(f.ctx, alice, "/b", bytes.NewReader(randomBytes(600)), files.CreateOptions{Size: -1})
		wantKind(t, "Create over quota with the size unknown", err, errs.Quota)
		f.absent(alice, "/b")
		f.clean(1)
		usage(600, 0)

		// Replacing charges only the difference.
		f.put(alice, "/a", randomBytes(900))
		usage(900, 0)
		_, err = f.svc.Create(f.ctx, alice, "/a", untouchable{t}, files.CreateOptions{Size: 1001})
		wantKind(t, "replacing with more than the quota", err, errs.Quota)
		usage(900, 0)

		// Moving between folders moves the charge; the target's quota holds.
		err = f.svc.Rename(f.ctx, alice, "/a", "/team/a", false)
		wantKind(t, "moving 900 bytes into a folder of 700", err, errs.Quota)
		usage(900, 0)
		f.put(alice, "/a", randomBytes(650))
		usage(650, 0)
		if err := f.svc.Rename(f.ctx, alice, "/a", "/team/a", false); err != nil {
			t.Fatal(err)
		}
		usage(0, 650)
		f.mkdir(alice, "/team/dir")
		f.put(alice, "/team/dir/b", randomBytes(50))
		usage(0, 700)
		if err := f.svc.Rename(f.ctx, alice, "/team/dir", "/dir", false); err != nil {
			t.Fatal(err)
		}
		usage(50, 650)
		if err := f.svc.Rename(f.ctx, alice, "/team/a", "/dir/a", false); err != nil {
			t.Fatal(err)
		}
		usage(700, 0)

		// Deleting releases.
		if err := f.svc.Delete(f.ctx, alice, "/dir/a", false); err != nil {
			t.Fatal(err)
		}
		usage(50, 0)
		if err := f.svc.Delete(f.ctx, alice, "/dir", true); err != nil {
			t.Fatal(err)
		}
		usage(0, 0)
		f.clean(0)
	})
}
