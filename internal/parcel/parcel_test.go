package parcel_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/blob/mem"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/parcel"
)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    *db.DB
	blobs *mem.Store
	files *files.Service
	svc   *parcel.Service
	now   time.Time
	alice auth.Principal
	bob   auth.Principal
}

func newFixture(t *testing.T, dsn string) *fixture {
	return newFixtureWith(t, dsn, parcel.DefaultPolicy(), nil)
}

// newFixtureWith makes a fixture with policy pol, and with tune applied to the files
// service before it is used (if not nil).
func newFixtureWith(t *testing.T, dsn string, pol parcel.Policy, tune func(*files.Service)) *fixture {
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
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	blobs := mem.New()
	fs := files.New(d, blobs, keys, log, discard)
	if tune != nil {
		tune(fs)
	}
	f := &fixture{t: t, ctx: ctx, db: d, blobs: blobs, files: fs, now: time.Now()}
	f.svc = parcel.New(d, fs, log, keys, discard, pol)
	f.svc.SetClock(func() time.Time { return f.now })
	f.alice, f.bob = f.user("alice"), f.user("bob")
	return f
}

func (f *fixture) user(name string) auth.Principal {
	u, err := f.db.Q().CreateUser(f.ctx, db.NewUser{Name: name})
	if err != nil {
		f.t.Fatal(err)
	}
	return auth.Principal{UserID: u.ID, Name: name, Protocol: audit.HTTPS, SourceIP: "192.0.2.1"}
}

func access(token string) parcel.Access {
	return parcel.Access{Token: token, Client: auth.Client{IP: "198.51.100.7", Protocol: audit.HTTPS}}
}

func read(t *testing.T, r *files.Reader) string {
	t.Helper()
	b, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantKind(t *testing.T, what string, err error, k errs.Kind) {
	t.Helper()
	if !errs.Is(k, err) {
		t.Fatalf("%s: %v, want %s", what, err, k)
	}
}

// sent makes a sent parcel of alice with the given files and recipients.
func (f *fixture) sent(np parcel.NewParcel, contents map[string]string) (parcel.Parcel, []parcel.Link) {
	f.t.Helper()
	p, links, err := f.svc.Create(f.ctx, f.alice, np)
	if err != nil || len(links) != 0 || p.Status != parcel.StateDraft {
		f.t.Fatalf("Create = %+v, %v, %v", p, links, err)
	}
	for name, c := range contents {
		if _, err := f.svc.AddFile(f.ctx, f.alice, p.ID, name, strings.NewReader(c), int64(len(c)), nil); err != nil {
			f.t.Fatal(err)
		}
	}
	p, links, err = f.svc.Send(f.ctx, f.alice, p.ID, "")
	if err != nil {
		f.t.Fatal(err)
	}
	return p, links
}

func TestSendAndReceive(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn)
		one := int64(1)
		p, links := f.sent(parcel.NewParcel{Subject: "results", Message: "see attached", MaxDownloads: &one,
			Recipients: []string{"doc@example.org", "nurse@example.org", "DOC@example.org"}},
			map[string]string{"a.txt": "alpha", "b.txt": "beta"})
		if len(links) != 2 || p.Status != parcel.StateSent || len(p.Files) != 2 {
			t.Fatalf("sent %+v with links %+v", p, links)
		}
		if _, _, err := f.svc.Send(f.ctx, f.alice, p.ID, ""); !errs.Is(errs.Conflict, err) {
			t.Fatalf("sending twice: %v", err)
		}
		if _, err := f.svc.AddFile(f.ctx, f.alice, p.ID, "c.txt", strings.NewReader("c"), 1, nil); !errs.Is(errs.Conflict, err) {
			t.Fatalf("adding a file after sending: %v", err)
		}
		if _, err := f.svc.Get(f.ctx, f.bob, p.ID); !errs.Is(errs.NotFound, err) {
			t.Fatalf("another user's parcel: %v, want NotFound", err)
		}
		doc, nurse := access(links[0].Token), access(links[1].Token)
		v, err := f.svc.View(f.ctx, doc)
		if err != nil || v.Sender != "alice" || v.Message != "see attached" || len(v.Files) != 2 || v.Files[0].DownloadsLeft != 1 {
			t.Fatalf("View = %+v, %v", v, err)
		}
		r, file, err := f.svc.Download(f.ctx, doc, v.Files[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := read(t, r); got != "alpha" && got != "beta" || file.Size != int64(len(got)) {
			t.Fatalf("downloaded %q as %+v", got, file)
		}
		_, _, err = f.svc.Download(f.ctx, doc, v.Files[0].ID)
		wantKind(t, "a second download over the limit", err, errs.Gone)
		// The zip counts every file, all or none: one is used up, so none is counted.
		_, _, err = f.svc.DownloadAll(f.ctx, doc)
		wantKind(t, "a zip with a used-up file", err, errs.Gone)
		r, _, err = f.svc.Download(f.ctx, doc, v.Files[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		read(t, r)
		_, err = f.svc.View(f.ctx, doc)
		wantKind(t, "viewing a used-up link", err, errs.Gone)
		// The other recipient is unaffected; then revoking them leaves doc's receipts alone.
		fs, open, err := f.svc.DownloadAll(f.ctx, nurse)
		if err != nil || len(fs) != 2 {
			t.Fatalf("DownloadAll = %+v, %v", fs, err)
		}
		for _, file := range fs {
			r, err := open(file)
			if err != nil {
				t.Fatal(err)
			}
			read(t, r)
		}
		if err := f.svc.RevokeRecipient(f.ctx, f.alice, p.ID, links[1].RecipientID); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.View(f.ctx, nurse)
		wantKind(t, "a revoked link", err, errs.Gone)
		got, err := f.svc.Get(f.ctx, f.alice, p.ID)
		if err != nil || len(got.Recipients) != 2 || len(got.Recipients[0].Downloads) != 2 || got.Recipients[0].Views != 1 || got.Recipients[1].Revoked.IsZero() {
			t.Fatalf("receipts: %+v, %v", got.Recipients, err)
		}
		// An unknown token and a malformed one get the same answer.
		for _, tok := range []string{strings.Repeat("A", 32), "short", ""} {
			_, err := f.svc.View(f.ctx, access(tok))
			if !errs.Is(errs.NotFound, err) || errs.Detail(err) != "this link is not valid" {
				t.Fatalf("token %q: %v", tok, err)
			}
		}
	})
}

func TestPassphrase(t *testing.T) {
	f := newFixture(t, dbtest.SQLiteDSN(t))
	_, links := f.sent(parcel.NewParcel{Subject: "secret", Message: "m", Passphrase: "correct horse"}, map[string]string{"a": "x"})
	a := access(links[0].Token)
	v, err := f.svc.View(f.ctx, a)
	if err != nil || !v.Locked || v.Message != "" || len(v.Files) != 0 || v.Subject != "secret" {
		t.Fatalf("View before unlocking = %+v, %v", v, err)
	}
	_, _, err = f.svc.DownloadAll(f.ctx, a)
	wantKind(t, "download without the passphrase", err, errs.Unauthenticated)
	ticket, _, err := f.svc.Unlock(f.ctx, a, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	a.Ticket = ticket
	if v, err := f.svc.View(f.ctx, a); err != nil || v.Locked || len(v.Files) != 1 {
		t.Fatalf("View with a ticket = %+v, %v", v, err)
	}
	// A ticket is for one recipient and for an hour.
	other := access(links[0].Token)
	other.Ticket = ticket[:len(ticket)-2] + "AA"
	_, _, err = f.svc.DownloadAll(f.ctx, other)
	wantKind(t, "a forged ticket", err, errs.Unauthenticated)
	f.now = f.now.Add(61 * time.Minute)
	_, _, err = f.svc.DownloadAll(f.ctx, a)
	wantKind(t, "an old ticket", err, errs.Unauthenticated)
	for i := 1; i <= 10; i++ {
		_, _, err := f.svc.Unlock(f.ctx, a, "wrong horse")
		wantKind(t, "a wrong passphrase", err, errs.Unauthenticated)
	}
	_, _, err = f.svc.Unlock(f.ctx, a, "correct horse")
	wantKind(t, "the right passphrase after ten wrong ones", err, errs.Gone)
}

func TestExpiryAndPurge(t *testing.T) {
	f := newFixture(t, dbtest.SQLiteDSN(t))
	p, links := f.sent(parcel.NewParcel{Subject: "s", Lifetime: time.Hour}, map[string]string{"a": "x"})
	draft, _, err := f.svc.Create(f.ctx, f.alice, parcel.NewParcel{Subject: "never sent"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AddFile(f.ctx, f.alice, draft.ID, "d", strings.NewReader("d"), 1, nil); err != nil {
		t.Fatal(err)
	}
	if n, err := f.svc.Purge(f.ctx); err != nil || n != 0 {
		t.Fatalf("Purge before expiry = %d, %v", n, err)
	}
	f.now = f.now.Add(25 * time.Hour)
	_, err = f.svc.View(f.ctx, access(links[0].Token))
	wantKind(t, "an expired link", err, errs.Gone)
	if !strings.Contains(errs.Detail(err), "expired") {
		t.Fatalf("the message does not say the link expired: %v", err)
	}
	if n, err := f.svc.Purge(f.ctx); err != nil || n != 2 {
		t.Fatalf("Purge = %d, %v; want 2 (the expired parcel and the stale draft)", n, err)
	}
	if f.blobs.Len() != 0 {
		t.Fatalf("%d blobs left after purging", f.blobs.Len())
	}
	got, err := f.svc.Get(f.ctx, f.alice, p.ID)
	if err != nil || got.Purged.IsZero() || got.Status != "expired" || len(got.Files) != 1 {
		t.Fatalf("a purged parcel keeps its rows: %+v, %v", got, err)
	}
	_, _, err = f.svc.OpenFile(f.ctx, f.alice, p.ID, got.Files[0].ID)
	wantKind(t, "the owner opening a purged file", err, errs.Gone)
}

func TestRequest(t *testing.T) {
	f := newFixture(t, dbtest.SQLiteDSN(t))
	p, links, err := f.svc.Create(f.ctx, f.alice, parcel.NewParcel{Kind: parcel.KindRequest, Subject: "audit documents",
		Recipients: []string{"auditor@example.org", "clerk@example.org"}})
	if err != nil || len(links) != 2 || p.Status != parcel.StateOpen {
		t.Fatalf("Create request = %+v, %+v, %v", p, links, err)
	}
	auditor, clerk := access(links[0].Token), access(links[1].Token)
	if _, err := f.svc.Upload(f.ctx, auditor, "ledger.csv", strings.NewReader("1,2"), 3, nil); err != nil {
		t.Fatal(err)
	}
	// The same name from another uploader is no conflict (nor a hint that it exists).
	if _, err := f.svc.Upload(f.ctx, clerk, "ledger.csv", strings.NewReader("3,4"), 3, nil); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Upload(f.ctx, clerk, "../x", strings.NewReader("x"), 1, nil)
	wantKind(t, "a path as a name", err, errs.Invalid)
	v, err := f.svc.View(f.ctx, clerk)
	if err != nil || !v.CanUpload || len(v.Files) != 1 {
		t.Fatalf("a recipient sees only their own uploads: %+v, %v", v, err)
	}
	_, _, err = f.svc.Download(f.ctx, clerk, v.Files[0].ID)
	wantKind(t, "downloading with a request's link", err, errs.Conflict)
	got, err := f.svc.Get(f.ctx, f.alice, p.ID)
	if err != nil || len(got.Files) != 2 {
		t.Fatalf("the requester sees every upload: %+v, %v", got, err)
	}
	// Both uploads, whatever order they are listed in (they may share a timestamp).
	var contents []string
	for _, file := range got.Files {
		r, _, err := f.svc.OpenFile(f.ctx, f.alice, p.ID, file.ID)
		if err != nil {
			t.Fatalf("OpenFile: %v", err)
		}
		contents = append(contents, read(t, r))
	}
	if slices.Sort(contents); !slices.Equal(contents, []string{"1,2", "3,4"}) {
		t.Fatalf("the requester read %q, want both uploads", contents)
	}
	if err := f.svc.Close(f.ctx, f.alice, p.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Upload(f.ctx, auditor, "late.csv", strings.NewReader("x"), 1, nil)
	wantKind(t, "uploading to a closed request", err, errs.Gone)
}

func TestValidation(t *testing.T) {
	f := newFixture(t, dbtest.SQLiteDSN(t))
	long := strings.Repeat("x", 201)
	for _, tc := range []struct {
		name string
		np   parcel.NewParcel
		want errs.Kind
	}{
		{"no subject", parcel.NewParcel{}, errs.Invalid},
		{"long subject", parcel.NewParcel{Subject: long}, errs.TooLarge},
		{"control characters", parcel.NewParcel{Subject: "a\x1b[2Jb"}, errs.Invalid},
		{"bidi override", parcel.NewParcel{Subject: "invoice\u202efdp.exe"}, errs.Invalid},
		{"display name", parcel.NewParcel{Subject: "s", Recipients: []string{"Eve <eve@example.org>"}}, errs.Invalid},
		{"header injection", parcel.NewParcel{Subject: "s", Recipients: []string{"a@example.org\r\nBcc: x@example.org"}}, errs.Invalid},
		{"too many recipients", parcel.NewParcel{Subject: "s", Recipients: make([]string, 51)}, errs.TooLarge},
		{"lifetime over the maximum", parcel.NewParcel{Subject: "s", Lifetime: 31 * 24 * time.Hour}, errs.Invalid},
		{"short passphrase", parcel.NewParcel{Subject: "s", Passphrase: "short"}, errs.Invalid},
		{"e2e passphrase without salt", parcel.NewParcel{Subject: "s", E2E: true, Passphrase: "verifier-verifier"}, errs.Invalid},
		{"e2e plain message", parcel.NewParcel{Subject: "s", E2E: true, Message: "m"}, errs.Invalid},
		{"unknown kind", parcel.NewParcel{Subject: "s", Kind: "drop"}, errs.Invalid},
	} {
		if _, _, err := f.svc.Create(f.ctx, f.alice, tc.np); !errs.Is(tc.want, err) {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
	}
}
