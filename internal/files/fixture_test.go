package files_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/blob/mem"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// fixture is a Service over a fresh migrated database, a new keyring, an initialised
// audit chain and a blob store, with helpers to make accounts and files.
type fixture struct {
	t     testing.TB
	ctx   context.Context
	db    *db.DB
	keys  *crypt.Keyring
	audit *audit.Log
	blobs blob.Store
	mem   *mem.Store // the store when it is the in-memory one, else nil
	svc   *files.Service
}

// newFixture builds a fixture on dsn over store; a nil store means a new mem.Store.
func newFixture(t testing.TB, dsn string, store blob.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	d := dbtest.Open(t, dsn)
	keys, err := crypt.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	log := audit.New(d, keys)
	if err := log.Init(ctx); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, db: d, keys: keys, audit: log}
	if store == nil {
		f.mem = mem.New()
		store = f.mem
	}
	f.blobs = store
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	}
	f.svc = files.New(d, store, keys, log, logger)
	// These tests count blobs: every file is one. small_test.go tests small files.
	f.svc.SetInlineMax(0)
	return f
}

// user creates an account with a home quota (0 = unlimited) and returns its principal.
func (f *fixture) user(name string, quota int64) auth.Principal {
	f.t.Helper()
	return f.account(db.NewUser{Name: name, QuotaBytes: quota})
}

func (f *fixture) account(nu db.NewUser) auth.Principal {
	f.t.Helper()
	u, err := f.db.Q().CreateUser(f.ctx, nu)
	if err != nil {
		f.t.Fatal(err)
	}
	return auth.Principal{UserID: u.ID, Name: u.Name, Admin: u.Admin, Protocol: audit.HTTPS, SourceIP: "192.0.2.1"}
}

// folder creates a shared folder and returns its id.
func (f *fixture) folder(name string, quota int64) int64 {
	f.t.Helper()
	fo, err := f.db.Q().CreateSharedFolder(f.ctx, name, quota)
	if err != nil {
		f.t.Fatal(err)
	}
	return fo.ID
}

func (f *fixture) grant(folderID int64, p auth.Principal, perm authz.Perm) {
	f.t.Helper()
	if err := f.db.Q().PutUserGrant(f.ctx, folderID, p.UserID, int64(perm)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) homeID(p auth.Principal) int64 {
	f.t.Helper()
	u, err := f.db.Q().UserByID(f.ctx, p.UserID)
	if err != nil {
		f.t.Fatal(err)
	}
	return u.HomeFolderID
}

// used returns a folder's used bytes.
func (f *fixture) used(folderID int64) int64 {
	f.t.Helper()
	fo, err := f.db.Q().FolderByID(f.ctx, folderID)
	if err != nil {
		f.t.Fatal(err)
	}
	return fo.UsedBytes
}

// put stores data at path, announcing its size and making missing parents, and fails
// the test on error.
func (f *fixture) put(p auth.Principal, path string, data []byte) files.Entry {
	f.t.Helper()
	e, err := f.svc.Create(f.ctx, p, path, bytes.NewReader(data), files.CreateOptions{Size: int64(len(data)), Parents: true})
	if err != nil {
		f.t.Fatalf("Create %s: %v", path, err)
	}
	return e
}

// get returns the whole content of path.
func (f *fixture) get(p auth.Principal, path string) []byte {
	f.t.Helper()
	r, err := f.svc.Open(f.ctx, p, path)
	if err != nil {
		f.t.Fatalf("Open %s: %v", path, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		f.t.Fatalf("reading %s: %v", path, err)
	}
	return data
}

// mkdir makes path and its parents.
func (f *fixture) mkdir(p auth.Principal, path string) {
	f.t.Helper()
	if _, err := f.svc.Mkdir(f.ctx, p, path, true); err != nil {
		f.t.Fatalf("Mkdir %s: %v", path, err)
	}
}

// absent asserts that path is not visible to p.
func (f *fixture) absent(p auth.Principal, path string) {
	f.t.Helper()
	if e, err := f.svc.Stat(f.ctx, p, path); !errs.Is(errs.NotFound, err) {
		f.t.Errorf("Stat %s after a failed write = %+v, %v; want NotFound", path, e, err)
	}
}

// clean asserts that the mem store holds want committed blobs and no open writer, and
// that nothing is left for the garbage collector.
func (f *fixture) clean(want int) {
	f.t.Helper()
	if f.mem.Pending() != 0 {
		f.t.Errorf("%d blob writers left open", f.mem.Pending())
	}
	if f.mem.Len() != want {
		f.t.Errorf("the store holds %d blobs, want %d", f.mem.Len(), want)
	}
	if n, err := f.svc.CollectGarbage(f.ctx, 0); err != nil || n != 0 {
		f.t.Errorf("CollectGarbage = %d, %v; want 0 (nothing pending or unreferenced)", n, err)
	}
}

// records returns the audit records of action, oldest first.
func (f *fixture) records(action string) []db.AuditRecord {
	f.t.Helper()
	recs, err := f.db.Q().AuditQuery(f.ctx, db.AuditFilter{Action: action}, 10000)
	if err != nil {
		f.t.Fatal(err)
	}
	slices.Reverse(recs)
	return recs
}

// lastRecord returns the newest audit record of action on path.
func (f *fixture) lastRecord(action, path string) db.AuditRecord {
	f.t.Helper()
	recs := f.records(action)
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Path == path {
			return recs[i]
		}
	}
	f.t.Fatalf("no %s record for %s", action, path)
	return db.AuditRecord{}
}

func (f *fixture) verifyAudit() audit.Report {
	f.t.Helper()
	rep, err := f.audit.Verify(f.ctx, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	if !rep.OK() {
		f.t.Fatalf("audit log does not verify: %+v", rep)
	}
	return rep
}

// wantKind fails the test unless err has Kind want (nil for no error).
func wantKind(t testing.TB, what string, err error, want errs.Kind) {
	t.Helper()
	switch {
	case want == errs.Other && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case want != errs.Other && !errs.Is(want, err):
		t.Errorf("%s = %v (kind %q); want kind %q", what, err, errs.KindOf(err), want)
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// failingReader yields r's bytes until after of them were read, then fails with err,
// as a client that disconnects mid-upload does.
type failingReader struct {
	r     io.Reader
	after int64
	err   error
	n     int64
}

func (fr *failingReader) Read(p []byte) (int, error) {
	if fr.n >= fr.after {
		return 0, fr.err
	}
	p = p[:min(int64(len(p)), fr.after-fr.n)]
	n, err := fr.r.Read(p)
	fr.n += int64(n)
	return n, err
}

// untouchable fails the test if anything reads it: a body that must be refused unread.
type untouchable struct{ t testing.TB }

func (u untouchable) Read([]byte) (int, error) {
	u.t.Error("the body was read, but the request should have been refused before reading it")
	return 0, errors.New("untouchable body was read")
}

// cancelingReader cancels its context once after bytes were read and keeps yielding
// data: a request canceled (by shutdown or timeout) while its body still flows.
type cancelingReader struct {
	r      io.Reader
	after  int64
	cancel context.CancelFunc
	n      int64
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n >= c.after {
		c.cancel()
	}
	return n, err
}

// faultyStore is a blob.Store whose Delete can be made to fail, as an unreachable
// backend's does.
type faultyStore struct {
	blob.Store
	failDelete atomic.Bool
}

func (s *faultyStore) Delete(ctx context.Context, id blob.ID) error {
	if s.failDelete.Load() {
		return errs.E(errs.Op("faulty.Delete"), errs.Unavailable, fmt.Sprintf("blob %s: backend unreachable", id))
	}
	return s.Store.Delete(ctx, id)
}

const allPerms = authz.List | authz.Read | authz.Write | authz.Delete
