package files_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/blob/local"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

const chunk = 64 << 10

// cut uploads data to path as a resumable upload that the client abandons after n bytes,
// and returns the error.
func (f *fixture) cut(p auth.Principal, path string, data []byte, n int64, opt files.CreateOptions) error {
	f.t.Helper()
	opt.Resumable = true
	_, err := f.svc.Create(f.ctx, p, path, &failingReader{r: bytes.NewReader(data[opt.Offset:]), after: n - opt.Offset, err: errors.New("connection reset by peer")}, opt)
	if err == nil {
		f.t.Fatalf("an upload cut off after %d bytes succeeded", n)
	}
	return err
}

func TestPartialUploadResume(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		bob := f.user("bob", 0)
		data := randomBytes(5*chunk + 1234)

		// Cut mid-chunk: every byte received is kept.
		err := f.cut(alice, "/results.csv", data, 2*chunk+100, files.CreateOptions{Size: -1})
		wantKind(t, "cut upload", err, errs.Canceled)
		if !strings.Contains(err.Error(), "the 131172 bytes received were kept") {
			t.Errorf("the error does not say what was kept: %v", err)
		}
		f.absent(alice, "/results.csv")
		part, err := f.svc.PartialAt(f.ctx, alice, "/results.csv")
		if err != nil || part.Size != 2*chunk+100 {
			t.Fatalf("PartialAt = %+v, %v; want 2 chunks and 100 bytes", part, err)
		}
		if !part.Expires.After(time.Now().Add(23 * time.Hour)) {
			t.Errorf("the partial upload expires at %v, want a day from now", part.Expires)
		}
		if got := f.used(f.homeID(alice)); got != 2*chunk+100 {
			t.Errorf("used %d, want the partial upload's %d charged", got, 2*chunk+100)
		}
		// Only its owner sees it, and nobody reads it as a file.
		if _, err := f.svc.PartialAt(f.ctx, bob, "/results.csv"); !errs.Is(errs.NotFound, err) {
			t.Errorf("bob sees alice's partial upload: %v", err)
		}
		if _, err := f.svc.Open(f.ctx, alice, "/results.csv"); !errs.Is(errs.NotFound, err) {
			t.Errorf("a partial upload opens as a file: %v", err)
		}
		if entries, _, err := f.svc.List(f.ctx, alice, "/", "", 100); err != nil || len(entries) != 0 {
			t.Errorf("a partial upload is listed: %+v, %v", entries, err)
		}

		// Resuming at the wrong offset is refused and keeps the partial upload.
		_, err = f.svc.Create(f.ctx, alice, "/results.csv", bytes.NewReader(data), files.CreateOptions{Size: -1, Resume: true, Offset: 0})
		wantKind(t, "resume at 0", err, errs.Conflict)
		// Another user cannot resume it.
		_, err = f.svc.Create(f.ctx, bob, "/results.csv", bytes.NewReader(data[2*chunk+100:]), files.CreateOptions{Size: -1, Resume: true, Offset: 2*chunk + 100})
		wantKind(t, "bob resumes", err, errs.NotFound)

		// Cut again; the second partial upload replaces the first.
		err = f.cut(alice, "/results.csv", data, 4*chunk+1, files.CreateOptions{Size: -1, Resume: true, Offset: 2*chunk + 100})
		wantKind(t, "second cut", err, errs.Canceled)
		part, err = f.svc.PartialAt(f.ctx, alice, "/results.csv")
		if err != nil || part.Size != 4*chunk+1 {
			t.Fatalf("after the second cut PartialAt = %+v, %v; want 4 chunks and 1 byte", part, err)
		}

		// Finish it, announcing the whole file's size and digest.
		sum := sha256.Sum256(data)
		e, err := f.svc.Create(f.ctx, alice, "/results.csv", bytes.NewReader(data[4*chunk+1:]),
			files.CreateOptions{Size: int64(len(data)), SHA256: sum[:], Resume: true, Offset: 4*chunk + 1})
		if err != nil {
			t.Fatal(err)
		}
		if e.Size != int64(len(data)) || !bytes.Equal(e.SHA256, sum[:]) {
			t.Fatalf("resumed file %+v", e)
		}
		if got := f.get(alice, "/results.csv"); !bytes.Equal(got, data) {
			t.Fatal("the resumed file reads back different bytes")
		}
		if _, err := f.svc.PartialAt(f.ctx, alice, "/results.csv"); !errs.Is(errs.NotFound, err) {
			t.Errorf("the partial upload outlived its completion: %v", err)
		}
		if got := f.used(f.homeID(alice)); got != int64(len(data)) {
			t.Errorf("used %d after completion, want %d", got, len(data))
		}
		rec := f.lastRecord(audit.ActFileUpload, "/results.csv")
		if rec.Result != audit.OK || !strings.Contains(rec.Detail, "resumed at byte 262145") {
			t.Errorf("completion audited as %+v", rec)
		}
		f.clean(1)
		if rep := f.verifyAudit(); !rep.OK() {
			t.Fatalf("audit chain: %+v", rep)
		}
	})
}

func TestPartialUploadEdges(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		data := randomBytes(3 * chunk)

		// Nothing received: nothing to keep.
		f.cut(alice, "/nothing", data, 0, files.CreateOptions{Size: -1})
		if _, err := f.svc.PartialAt(f.ctx, alice, "/nothing"); !errs.Is(errs.NotFound, err) {
			t.Errorf("an upload cut before its first byte left a partial upload: %v", err)
		}
		// Less than a chunk is kept too, and resumes.
		f.cut(alice, "/small", data, 1000, files.CreateOptions{Size: -1})
		if part, err := f.svc.PartialAt(f.ctx, alice, "/small"); err != nil || part.Size != 1000 {
			t.Errorf("PartialAt of a 1000-byte cut = %+v, %v", part, err)
		}
		if _, err := f.svc.Create(f.ctx, alice, "/small", bytes.NewReader(data[1000:2000]), files.CreateOptions{Size: 2000, Resume: true, Offset: 1000}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.get(alice, "/small"), data[:2000]) {
			t.Error("a file resumed within its first chunk differs")
		}
		// Without Resumable, nothing is kept.
		_, err := f.svc.Create(f.ctx, alice, "/plain", &failingReader{r: bytes.NewReader(data), after: 2 * chunk, err: errors.New("reset")}, files.CreateOptions{Size: -1})
		wantKind(t, "cut plain upload", err, errs.Canceled)
		if _, err := f.svc.PartialAt(f.ctx, alice, "/plain"); !errs.Is(errs.NotFound, err) {
			t.Errorf("a non-resumable upload left a partial upload: %v", err)
		}
		// Exactly at a chunk boundary (the last chunk is not sealed until more data or the
		// end comes); resuming with nothing more completes a file of that length.
		f.cut(alice, "/edge", data, 2*chunk, files.CreateOptions{Size: -1})
		part, err := f.svc.PartialAt(f.ctx, alice, "/edge")
		if err != nil || part.Size != 2*chunk {
			t.Fatalf("PartialAt = %+v, %v; want 2 chunks", part, err)
		}
		if _, err = f.svc.Create(f.ctx, alice, "/edge", bytes.NewReader(nil), files.CreateOptions{Size: 2 * chunk, Resume: true, Offset: 2 * chunk}); err != nil {
			t.Fatalf("resume with nothing more: %v", err)
		}
		if !bytes.Equal(f.get(alice, "/edge"), data[:2*chunk]) {
			t.Error("the file completed at a chunk boundary differs")
		}
		// A fresh upload to the path replaces the partial upload.
		f.cut(alice, "/edge", data, 2*chunk+5, files.CreateOptions{Size: -1})
		f.put(alice, "/edge", data[:10])
		if _, err := f.svc.PartialAt(f.ctx, alice, "/edge"); !errs.Is(errs.NotFound, err) {
			t.Errorf("a completed fresh upload left the partial upload: %v", err)
		}
		// DiscardPartial drops one and is audited.
		f.cut(alice, "/drop", data, 2*chunk+5, files.CreateOptions{Size: -1})
		if err := f.svc.DiscardPartial(f.ctx, alice, "/drop"); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.DiscardPartial(f.ctx, alice, "/drop"); !errs.Is(errs.NotFound, err) {
			t.Errorf("second DiscardPartial: %v", err)
		}
		if recs := f.records(audit.ActUploadDiscard); len(recs) != 2 || recs[0].Result != audit.OK || recs[1].Result != audit.Failed {
			t.Errorf("discards audited as %+v", recs)
		}
		if got := f.used(f.homeID(alice)); got != 2010 {
			t.Errorf("used %d, want 2010 (/small and /edge)", got)
		}
		f.clean(2)
	})
}

func TestPartialUploadQuotaAndExpiry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 4*chunk)
		data := randomBytes(4 * chunk)
		f.cut(alice, "/a", data, 3*chunk+1, files.CreateOptions{Size: -1})
		// The partial upload's 3 chunks count: a second file of 2 chunks does not fit.
		_, err := f.svc.Create(f.ctx, alice, "/b", bytes.NewReader(data[:2*chunk]), files.CreateOptions{Size: 2 * chunk})
		wantKind(t, "upload beside a partial upload", err, errs.Quota)
		// Completing it does fit: its stored bytes are part of the file.
		if _, err := f.svc.Create(f.ctx, alice, "/a", bytes.NewReader(data[3*chunk+1:]), files.CreateOptions{Size: 4 * chunk, Resume: true, Offset: 3*chunk + 1}); err != nil {
			t.Fatalf("completing within the quota: %v", err)
		}
		if got := f.used(f.homeID(alice)); got != 4*chunk {
			t.Errorf("used %d, want %d", got, 4*chunk)
		}
		f.svc.Delete(f.ctx, alice, "/a", false)

		// Expiry: a partial upload past its time is deleted by garbage collection, and
		// its bytes are credited.
		f.svc.SetPartialTTL(time.Nanosecond)
		f.cut(alice, "/c", data, 2*chunk+1, files.CreateOptions{Size: -1})
		if n, err := f.svc.CollectGarbage(f.ctx, time.Hour); err != nil || n < 1 {
			t.Fatalf("CollectGarbage = %d, %v; want the expired partial upload removed", n, err)
		}
		if _, err := f.svc.PartialAt(f.ctx, alice, "/c"); !errs.Is(errs.NotFound, err) {
			t.Errorf("an expired partial upload survived: %v", err)
		}
		if got := f.used(f.homeID(alice)); got != 0 {
			t.Errorf("used %d after expiry, want 0", got)
		}
		if recs := f.records(audit.ActUploadExpire); len(recs) != 1 {
			t.Errorf("%d expiry records, want 1", len(recs))
		}
		f.clean(0)
	})
}

// TestPartialUploadNeedsWrite: a user who lost write access cannot resume.
func TestPartialUploadNeedsWrite(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		lab := f.folder("lab", 0)
		f.grant(lab, alice, allPerms)
		data := randomBytes(3 * chunk)
		f.cut(alice, "/lab/x", data, 2*chunk+1, files.CreateOptions{Size: -1})
		f.grant(lab, alice, authz.List|authz.Read)
		_, err := f.svc.Create(f.ctx, alice, "/lab/x", bytes.NewReader(data[2*chunk+1:]), files.CreateOptions{Size: -1, Resume: true, Offset: 2*chunk + 1})
		wantKind(t, "resume without write", err, errs.Permission)
	})
}

// TestPartialUploadCanceled: an upload whose context ends (server shutdown, connection
// gone) keeps its partial upload on the real local store, whose writers watch the
// context they were made with.
func TestPartialUploadCanceled(t *testing.T) {
	store, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, dbtest.SQLiteDSN(t), store)
	alice := f.user("alice", 0)
	data := randomBytes(4 * chunk)
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	_, err = f.svc.Create(ctx, alice, "/x", &cancelingReader{r: bytes.NewReader(data), after: 3 * chunk, cancel: cancel},
		files.CreateOptions{Size: -1, Resumable: true})
	wantKind(t, "canceled upload", err, errs.Canceled)
	part, err := f.svc.PartialAt(f.ctx, alice, "/x")
	if err != nil || part.Size == 0 {
		t.Fatalf("PartialAt after cancel = %+v, %v", part, err)
	}
	if _, err := f.svc.Create(f.ctx, alice, "/x", bytes.NewReader(data[part.Size:]), files.CreateOptions{Size: int64(len(data)), Resume: true, Offset: part.Size}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.get(alice, "/x"), data) {
		t.Fatal("resumed file differs")
	}
}

// TestUploadInPieces is the tus flow in the files layer: start, append pieces of any size,
// a cut piece, a conflicting second transfer, completion at the announced length.
func TestUploadInPieces(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		bob := f.user("bob", 0)
		data := randomBytes(3*chunk + 777)
		sum := sha256.Sum256(data)
		part, err := f.svc.StartUpload(f.ctx, alice, "/in/pieces.bin", files.StartOptions{Length: int64(len(data)), SHA256: sum[:], Parents: true})
		if err != nil {
			t.Fatal(err)
		}
		if part.Size != 0 || part.Length != int64(len(data)) || part.ID == "" {
			t.Fatalf("StartUpload = %+v", part)
		}
		if _, err := f.svc.PartialByID(f.ctx, bob, part.ID); !errs.Is(errs.NotFound, err) {
			t.Errorf("bob sees alice's upload by id: %v", err)
		}
		if _, _, err := f.svc.Append(f.ctx, bob, part.ID, 0, bytes.NewReader(data)); !errs.Is(errs.NotFound, err) {
			t.Errorf("bob appends to alice's upload: %v", err)
		}
		off := int64(0)
		for _, n := range []int64{1000, 10, chunk, 0} { // pieces smaller and larger than a chunk, and an empty one
			got, e, err := f.svc.Append(f.ctx, alice, part.ID, off, bytes.NewReader(data[off:off+n]))
			if err != nil || e != nil || got.Size != off+n || got.ID != part.ID {
				t.Fatalf("Append %d at %d = %+v, %v, %v", n, off, got, e, err)
			}
			off += n
		}
		// A piece at the wrong offset.
		if _, _, err := f.svc.Append(f.ctx, alice, part.ID, off+1, bytes.NewReader(data[off+1:])); !errs.Is(errs.Conflict, err) {
			t.Errorf("append at the wrong offset: %v, want Conflict", err)
		}
		// A piece cut by the network keeps what arrived and says so.
		got, _, err := f.svc.Append(f.ctx, alice, part.ID, off, &failingReader{r: bytes.NewReader(data[off:]), after: chunk + 5, err: errors.New("reset")})
		if err == nil || got.Size != off+chunk+5 {
			t.Fatalf("cut piece: %+v, %v", got, err)
		}
		off = got.Size
		f.absent(alice, "/in/pieces.bin")
		// The last piece completes it, checked against the announced digest.
		_, e, err := f.svc.Append(f.ctx, alice, part.ID, off, bytes.NewReader(data[off:]))
		if err != nil || e == nil || e.Size != int64(len(data)) {
			t.Fatalf("last piece: %v, %v", e, err)
		}
		if !bytes.Equal(f.get(alice, "/in/pieces.bin"), data) {
			t.Fatal("the file made of pieces differs")
		}
		if _, err := f.svc.PartialByID(f.ctx, alice, part.ID); !errs.Is(errs.NotFound, err) {
			t.Errorf("the upload outlived its completion: %v", err)
		}
		if got := f.used(f.homeID(alice)); got != int64(len(data)) {
			t.Errorf("used %d, want %d", got, len(data))
		}
		if recs := f.records(audit.ActUploadStart); len(recs) != 1 || recs[0].Result != audit.OK {
			t.Errorf("upload.start records: %+v", recs)
		}

		// A wrong digest refuses the file and keeps the upload as it was.
		part, err = f.svc.StartUpload(f.ctx, alice, "/bad.bin", files.StartOptions{Length: 10, SHA256: make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		got, e, err = f.svc.Append(f.ctx, alice, part.ID, 0, bytes.NewReader(data[:10]))
		wantKind(t, "wrong digest", err, errs.Integrity)
		if e != nil || got.Size != 0 {
			t.Errorf("after a wrong digest: %+v, %v", got, e)
		}
		// More than the announced length is refused.
		_, _, err = f.svc.Append(f.ctx, alice, part.ID, 0, bytes.NewReader(data[:11]))
		wantKind(t, "too long", err, errs.Integrity)
		if err := f.svc.DiscardUpload(f.ctx, alice, part.ID); err != nil {
			t.Fatal(err)
		}
		f.clean(1)
	})
}

// TestUploadLease: while one transfer appends, another is refused, and the state is
// not corrupted.
func TestUploadLease(t *testing.T) {
	f := newFixture(t, dbtest.SQLiteDSN(t), nil)
	alice := f.user("alice", 0)
	data := randomBytes(2 * chunk)
	part, err := f.svc.StartUpload(f.ctx, alice, "/x", files.StartOptions{Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, _, err := f.svc.Append(f.ctx, alice, part.ID, 0, pr)
		done <- err
	}()
	pw.Write(data[:100]) // returns once the first transfer reads, i.e. holds the lease
	if _, _, err := f.svc.Append(f.ctx, alice, part.ID, 0, bytes.NewReader(data)); !errs.Is(errs.Conflict, err) {
		t.Errorf("a second transfer: %v, want Conflict", err)
	}
	if err := f.svc.DiscardUpload(f.ctx, alice, part.ID); !errs.Is(errs.Conflict, err) {
		t.Errorf("discard during a transfer: %v, want Conflict", err)
	}
	if p, err := f.svc.PartialByID(f.ctx, alice, part.ID); err != nil || !p.Busy {
		t.Errorf("PartialByID during a transfer = %+v, %v; want busy", p, err)
	}
	pw.Write(data[100:])
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.get(alice, "/x"), data) {
		t.Fatal("file differs")
	}
}

// A transfer whose lease ran out (its node froze, or could not reach the database to
// renew it) while another transfer continued the upload does not overwrite what the other
// one stored when it is cut off at last: the newer state stands, and is charged once.
func TestLapsedLeaseLosesToTheNewTransfer(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		data := randomBytes(3 * chunk)
		part, err := f.svc.StartUpload(f.ctx, alice, "/x", files.StartOptions{Length: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		if p, _, err := f.svc.Append(f.ctx, alice, part.ID, 0, bytes.NewReader(data[:100])); err != nil || p.Size != 100 {
			t.Fatalf("first piece: %+v, %v", p, err)
		}
		pr, pw := io.Pipe()
		slow := make(chan error, 1)
		go func() {
			_, _, err := f.svc.Append(f.ctx, alice, part.ID, 100, pr)
			slow <- err
		}()
		// The slow transfer holds the lease, which runs out.
		pw.Write(data[100:1100])
		if err := f.db.Q().RenewUpload(f.ctx, part.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		if p, _, err := f.svc.Append(f.ctx, alice, part.ID, 100, bytes.NewReader(data[100:5000])); err != nil || p.Size != 5000 {
			t.Fatalf("the new transfer: %+v, %v", p, err)
		}
		pw.CloseWithError(errors.New("connection reset by peer"))
		err = <-slow
		wantKind(t, "the stale transfer", err, errs.Conflict)
		p, err := f.svc.PartialByID(f.ctx, alice, part.ID)
		if err != nil || p.Size != 5000 {
			t.Fatalf("the partial upload after both: %+v, %v; want the new transfer's 5000 bytes", p, err)
		}
		if got := f.used(f.homeID(alice)); got != 5000 {
			t.Errorf("used %d, want 5000", got)
		}
		f.clean(1)
		if _, e, err := f.svc.Append(f.ctx, alice, part.ID, 5000, bytes.NewReader(data[5000:])); err != nil || e == nil {
			t.Fatalf("completing: %v", err)
		}
		if !bytes.Equal(f.get(alice, "/x"), data) {
			t.Fatal("file differs")
		}
	})
}

// An upload sent in many pieces (a tus client's chunks) keeps each piece's sealed chunks
// in a segment of its own instead of copying what was stored before with every piece; the
// file is assembled once, when the last piece arrives, and nothing of the pieces is left.
// Discarding or expiring such an upload removes every segment; a segment that went missing
// makes completion fail as corrupt, not publish a damaged file.
func TestUploadInManyPieces(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		data := randomBytes(20*chunk + 123)
		sum := sha256.Sum256(data)
		part, err := f.svc.StartUpload(f.ctx, alice, "/many.bin", files.StartOptions{Length: int64(len(data)), SHA256: sum[:]})
		if err != nil {
			t.Fatal(err)
		}
		piece := int64(chunk + chunk/3) // pieces not aligned to chunks: tails carry over
		segs := 0
		for off := int64(0); off+piece < int64(len(data)); off += piece {
			p, e, err := f.svc.Append(f.ctx, alice, part.ID, off, bytes.NewReader(data[off:off+piece]))
			if err != nil || e != nil || p.Size != off+piece {
				t.Fatalf("piece at %d: %+v, %v, %v", off, p, e, err)
			}
			// The first piece goes into the upload's own blob (it held only the nonce);
			// each later one that seals a chunk becomes a segment.
			if off > 0 && (off+piece)/chunk > off/chunk {
				segs++
			}
			// The upload's blob and one blob per segment: nothing copied.
			if got := f.mem.Len(); got != 1+segs {
				t.Fatalf("after the piece at %d the store holds %d blobs, want %d", off, got, 1+segs)
			}
		}
		if segs < 10 {
			t.Fatalf("only %d segments: the test does not test pieces", segs)
		}
		p, _ := f.svc.PartialByID(f.ctx, alice, part.ID)
		_, e, err := f.svc.Append(f.ctx, alice, part.ID, p.Size, bytes.NewReader(data[p.Size:]))
		if err != nil || e == nil {
			t.Fatalf("last piece: %v, %v", e, err)
		}
		if !bytes.Equal(f.get(alice, "/many.bin"), data) {
			t.Fatal("the file assembled from segments differs")
		}
		f.clean(1)

		// Discarded and expired uploads take all their segments with them.
		for _, how := range []string{"discard", "expire"} {
			if how == "expire" {
				f.svc.SetPartialTTL(time.Nanosecond)
			}
			part, err := f.svc.StartUpload(f.ctx, alice, "/"+how, files.StartOptions{Length: int64(len(data))})
			if err != nil {
				t.Fatal(err)
			}
			for off := int64(0); off < 4*piece; off += piece {
				if _, _, err := f.svc.Append(f.ctx, alice, part.ID, off, bytes.NewReader(data[off:off+piece])); err != nil {
					t.Fatal(err)
				}
			}
			if f.mem.Len() < 4 {
				t.Fatalf("%s: %d blobs, want the file, the first blob and segments", how, f.mem.Len())
			}
			if how == "discard" {
				err = f.svc.DiscardUpload(f.ctx, alice, part.ID)
			} else {
				_, err = f.svc.CollectGarbage(f.ctx, time.Hour)
				f.svc.SetPartialTTL(24 * time.Hour)
			}
			if err != nil {
				t.Fatalf("%s: %v", how, err)
			}
			f.clean(1)
		}
		if got := f.used(f.homeID(alice)); got != int64(len(data)) {
			t.Errorf("used %d, want the one file's %d", got, len(data))
		}

		// A resume that sends the rest at once (SFTP's reput, an HTTP resume) after pieces
		// starts from a copy of all that was stored; cut, it keeps that copy as the
		// upload's one blob, and the segments go.
		part, err = f.svc.StartUpload(f.ctx, alice, "/mixed.bin", files.StartOptions{Length: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < 3*piece; off += piece {
			if _, _, err := f.svc.Append(f.ctx, alice, part.ID, off, bytes.NewReader(data[off:off+piece])); err != nil {
				t.Fatal(err)
			}
		}
		if gs, err := f.db.Q().UploadSegments(f.ctx, part.ID); err != nil || len(gs) != 2 {
			t.Fatalf("segments %+v, %v; want 2", gs, err)
		}
		cut := &failingReader{r: bytes.NewReader(data[3*piece:]), after: 2*chunk + 7, err: errors.New("reset")}
		if _, err := f.svc.Create(f.ctx, alice, "/mixed.bin", cut, files.CreateOptions{Size: int64(len(data)), Resume: true, Resumable: true, Offset: 3 * piece}); err == nil {
			t.Fatal("a cut resume succeeded")
		}
		if gs, err := f.db.Q().UploadSegments(f.ctx, part.ID); err != nil || len(gs) != 0 {
			t.Fatalf("segments after a whole resume was cut: %+v, %v; want none", gs, err)
		}
		f.clean(2) // /many.bin and the upload's one blob
		at := 3*piece + 2*chunk + 7
		if _, err := f.svc.Create(f.ctx, alice, "/mixed.bin", bytes.NewReader(data[at:]), files.CreateOptions{Size: int64(len(data)), Resume: true, Offset: at}); err != nil {
			t.Fatalf("completing the resume: %v", err)
		}
		if !bytes.Equal(f.get(alice, "/mixed.bin"), data) {
			t.Fatal("the file resumed after pieces differs")
		}
		f.svc.Delete(f.ctx, alice, "/mixed.bin", false)
		f.clean(1)

		// Pieces smaller than a chunk mostly seal none: their bytes wait in the tail, and
		// no empty segment is stored.
		part, err = f.svc.StartUpload(f.ctx, alice, "/tiny.bin", files.StartOptions{Length: 3*chunk + 5})
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < 3*chunk+5; {
			n := min(int64(7000), 3*chunk+5-off)
			if _, _, err := f.svc.Append(f.ctx, alice, part.ID, off, bytes.NewReader(data[off:off+n])); err != nil {
				t.Fatalf("tiny piece at %d: %v", off, err)
			}
			off += n
			if gs, _ := f.db.Q().UploadSegments(f.ctx, part.ID); off < 3*chunk+5 && int64(len(gs)) > off/chunk {
				t.Fatalf("at %d: %d segments for %d sealed chunks", off, len(gs), off/chunk)
			}
		}
		if !bytes.Equal(f.get(alice, "/tiny.bin"), data[:3*chunk+5]) {
			t.Fatal("the file of tiny pieces differs")
		}
		f.svc.Delete(f.ctx, alice, "/tiny.bin", false)
		f.clean(1)
		if got := f.used(f.homeID(alice)); got != int64(len(data)) {
			t.Errorf("used %d, want the one file's %d", got, len(data))
		}

		// A segment lost from the store: completion fails, nothing is published.
		part, err = f.svc.StartUpload(f.ctx, alice, "/lost.bin", files.StartOptions{Length: 4 * piece})
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < 3*piece; off += piece {
			if _, _, err := f.svc.Append(f.ctx, alice, part.ID, off, bytes.NewReader(data[off:off+piece])); err != nil {
				t.Fatal(err)
			}
		}
		gs, err := f.db.Q().UploadSegments(f.ctx, part.ID)
		if err != nil || len(gs) != 2 {
			t.Fatalf("segments %+v, %v; want 2", gs, err)
		}
		if err := f.mem.Delete(f.ctx, blob.ID(gs[1].BlobID)); err != nil {
			t.Fatal(err)
		}
		_, e, err = f.svc.Append(f.ctx, alice, part.ID, 3*piece, bytes.NewReader(data[3*piece:4*piece]))
		wantKind(t, "completion with a segment missing", err, errs.Integrity)
		if e != nil {
			t.Errorf("published %+v", e)
		}
		f.absent(alice, "/lost.bin")
		if err := f.svc.DiscardUpload(f.ctx, alice, part.ID); err != nil {
			t.Fatal(err)
		}
		f.clean(1)
	})
}

// A lapsed lease in segment mode: a stalled piece that is finally cut after another
// transfer added a segment keeps nothing, and the upload completes from the newer state.
func TestLapsedLeaseInSegments(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		data := randomBytes(6 * chunk)
		part, err := f.svc.StartUpload(f.ctx, alice, "/x", files.StartOptions{Length: int64(len(data))})
		if err != nil {
			t.Fatal(err)
		}
		first := int64(chunk + 100) // seals a chunk: the pieces after it are segments
		if p, _, err := f.svc.Append(f.ctx, alice, part.ID, 0, bytes.NewReader(data[:first])); err != nil || p.Size != first {
			t.Fatalf("first piece: %+v, %v", p, err)
		}
		pr, pw := io.Pipe()
		slow := make(chan error, 1)
		go func() {
			_, _, err := f.svc.Append(f.ctx, alice, part.ID, first, pr)
			slow <- err
		}()
		pw.Write(data[first : first+chunk+10]) // the slow piece seals a chunk of its own
		if err := f.db.Q().RenewUpload(f.ctx, part.ID, time.Time{}); err != nil {
			t.Fatal(err)
		}
		next := first + 2*chunk
		if p, _, err := f.svc.Append(f.ctx, alice, part.ID, first, bytes.NewReader(data[first:next])); err != nil || p.Size != next {
			t.Fatalf("the new transfer: %+v, %v", p, err)
		}
		pw.CloseWithError(errors.New("connection reset by peer"))
		wantKind(t, "the stale piece", <-slow, errs.Conflict)
		if gs, err := f.db.Q().UploadSegments(f.ctx, part.ID); err != nil || len(gs) != 1 {
			t.Fatalf("segments %+v, %v; want the new transfer's one", gs, err)
		}
		if got := f.used(f.homeID(alice)); got != next {
			t.Errorf("used %d, want %d", got, next)
		}
		if _, e, err := f.svc.Append(f.ctx, alice, part.ID, next, bytes.NewReader(data[next:])); err != nil || e == nil {
			t.Fatalf("completing: %v", err)
		}
		if !bytes.Equal(f.get(alice, "/x"), data) {
			t.Fatal("file differs")
		}
		f.clean(1)
	})
}
