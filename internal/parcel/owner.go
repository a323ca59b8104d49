package parcel

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// Create makes a parcel. A send parcel starts as a draft (add files, then Send); a request
// is open at once, and its links are returned. Errors: Invalid, TooLarge, Permission (the
// policy requires end-to-end encryption).
func (s *Service) Create(ctx context.Context, p auth.Principal, np NewParcel) (Parcel, []Link, error) {
	const op = errs.Op("parcel.Create")
	rec := ownerRecord(p, audit.ActParcelCreate, "")
	out, links, err := s.create(ctx, p, np, &rec)
	if err != nil {
		return Parcel{}, nil, s.fail(ctx, rec, errs.E(op, err))
	}
	return out, links, nil
}

func (s *Service) create(ctx context.Context, p auth.Principal, np NewParcel, rec *audit.Record) (Parcel, []Link, error) {
	u, err := s.user(ctx, p)
	if err != nil {
		return Parcel{}, nil, err
	}
	if np.Kind == "" {
		np.Kind = KindSend
	}
	addrs, err := s.validate(np)
	if err != nil {
		return Parcel{}, nil, err
	}
	lifetime := np.Lifetime
	if lifetime == 0 {
		lifetime = s.policy.DefaultLifetime
	}
	maxDl := s.policy.DefaultMaxDownloads
	if np.MaxDownloads != nil {
		maxDl = *np.MaxDownloads
	}
	hash := ""
	if np.Passphrase != "" {
		if hash, err = auth.HashPassword(np.Passphrase); err != nil {
			return Parcel{}, nil, err
		}
	}
	now := s.now()
	dp := db.Parcel{ID: newID(), Kind: np.Kind, OwnerID: u.ID, OwnerName: u.Name, State: StateDraft, Subject: np.Subject,
		Message: np.Message, E2E: np.E2E, KDFSalt: np.KDFSalt, PassphraseHash: hash, MaxDownloads: maxDl, Notify: np.Notify,
		Lifetime: lifetime, Created: now, Expires: now.Add(s.policy.DraftLifetime)}
	if np.Kind == KindRequest {
		dp.State, dp.Sent, dp.Expires = StateOpen, now, now.Add(lifetime)
	}
	if len(addrs) == 0 {
		addrs = []string{""}
	}
	rec.Path = "/parcels/" + dp.ID
	rec.Detail = fmt.Sprintf("%s to %d recipients, e2e %v, passphrase %v", np.Kind, len(addrs), np.E2E, hash != "")
	var links []Link
	err = s.db.Tx(ctx, func(q db.Q) error {
		if dp.FolderID, err = q.InsertParcelFolder(ctx, s.policy.MaxParcelBytes); err != nil {
			return err
		}
		if err := q.InsertParcel(ctx, dp); err != nil {
			return err
		}
		for i, a := range addrs {
			// A microsecond apart, so that recipients (and their links) list in the order given.
			r := db.ParcelRecipient{ID: newID(), ParcelID: dp.ID, Email: a, Created: now.Add(time.Duration(i) * time.Microsecond)}
			var h []byte
			if dp.State == StateOpen {
				var token string
				token, h = newToken()
				links = append(links, Link{RecipientID: r.ID, Email: a, Token: token})
			}
			if err := q.InsertParcelRecipient(ctx, r, h); err != nil {
				return err
			}
		}
		if links != nil {
			if err := s.notify(ctx, q, EventLinks, dp, links, ""); err != nil {
				return err
			}
		}
		return s.audit.AppendTx(ctx, q, *rec)
	})
	if err != nil {
		return Parcel{}, nil, err
	}
	out, err := s.get(ctx, dp.ID)
	return out, links, err
}

// validate checks a new parcel against the format and the policy; it returns the
// recipients' addresses, without duplicates.
func (s *Service) validate(np NewParcel) ([]string, error) {
	switch {
	case np.Kind != KindSend && np.Kind != KindRequest:
		return nil, errs.E(errs.Invalid, `the kind must be "send" or "request"`)
	case s.policy.RequireE2E && !np.E2E:
		return nil, errs.E(errs.Permission, "this server requires end-to-end encryption for parcels")
	case strings.TrimSpace(np.Subject) == "":
		return nil, errs.E(errs.Invalid, "a subject is required")
	case np.Lifetime < 0 || np.Lifetime > s.policy.MaxLifetime:
		return nil, errs.E(errs.Invalid, fmt.Sprintf("the lifetime must be at most %s", s.policy.MaxLifetime))
	case np.Lifetime != 0 && np.Lifetime < time.Minute:
		return nil, errs.E(errs.Invalid, "the lifetime must be at least a minute")
	case np.MaxDownloads != nil && (*np.MaxDownloads < 0 || *np.MaxDownloads > 1000):
		return nil, errs.E(errs.Invalid, "the download limit must be 0 (unlimited) to 1000")
	case np.Passphrase != "" && (len(np.Passphrase) < MinPassphraseBytes || len(np.Passphrase) > MaxPassphraseBytes):
		return nil, errs.E(errs.Invalid, fmt.Sprintf("a passphrase must have %d to %d bytes", MinPassphraseBytes, MaxPassphraseBytes))
	case np.E2E && np.Passphrase != "" && len(np.KDFSalt) != KDFSaltBytes:
		return nil, errs.E(errs.Invalid, fmt.Sprintf("an end-to-end parcel with a passphrase needs its %d-byte kdf_salt", KDFSaltBytes))
	case (!np.E2E || np.Passphrase == "") && np.KDFSalt != nil:
		return nil, errs.E(errs.Invalid, "kdf_salt belongs only to end-to-end parcels with a passphrase")
	case len(np.Recipients) > s.policy.MaxRecipients:
		return nil, errs.E(errs.TooLarge, fmt.Sprintf("a parcel may have at most %d recipients", s.policy.MaxRecipients))
	}
	if err := checkText("subject", np.Subject, s.policy.MaxSubjectBytes, false); err != nil {
		return nil, err
	}
	if err := checkText("message", np.Message, s.policy.MaxMessageBytes, true); err != nil {
		return nil, err
	}
	if np.E2E && np.Message != "" {
		return nil, errs.E(errs.Invalid, "an end-to-end parcel carries its message in the sealed manifest, not in plain text")
	}
	var addrs []string
	for _, a := range np.Recipients {
		a, err := checkEmail(a)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(addrs, func(b string) bool { return strings.EqualFold(a, b) }) {
			addrs = append(addrs, a)
		}
	}
	return addrs, nil
}

// List returns the caller's parcels, newest first, up to limit (at most 200) after the
// cursor (the ID of the last parcel of the previous page; "" for the first page), and
// the next cursor ("" at the end). Recipients and files are not filled in.
func (s *Service) List(ctx context.Context, p auth.Principal, after string, limit int) ([]Parcel, string, error) {
	const op = errs.Op("parcel.List")
	if _, err := s.user(ctx, p); err != nil {
		return nil, "", errs.E(op, err)
	}
	if limit <= 0 || limit > 200 {
		limit = 200
	}
	var before time.Time
	if after != "" {
		last, err := s.owned(ctx, p, after)
		if err != nil {
			return nil, "", errs.E(op, errs.Invalid, "malformed cursor: pass back the next cursor unchanged")
		}
		before = last.Created
	}
	rows, err := s.db.Q().ParcelsOfOwner(ctx, p.UserID, before, after, limit+1)
	if err != nil {
		return nil, "", errs.E(op, err)
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = rows[limit-1].ID
	}
	out := make([]Parcel, 0, len(rows))
	for _, r := range rows {
		out = append(out, s.parcelOut(r))
	}
	return out, next, nil
}

func (s *Service) parcelOut(p db.Parcel) Parcel {
	return Parcel{ID: p.ID, Kind: p.Kind, Status: s.status(p), Owner: p.OwnerName, Subject: p.Subject, Message: p.Message,
		E2E: p.E2E, KDFSalt: p.KDFSalt, Manifest: p.Manifest, HasPassphrase: p.PassphraseHash != "", MaxDownloads: p.MaxDownloads,
		Notify: p.Notify, Created: p.Created, Sent: p.Sent, Expires: p.Expires, Revoked: p.Revoked, Purged: p.Purged}
}

// Get returns one of the caller's parcels with its recipients, files and receipts.
// Errors: NotFound.
func (s *Service) Get(ctx context.Context, p auth.Principal, id string) (Parcel, error) {
	if _, err := s.owned(ctx, p, id); err != nil {
		return Parcel{}, errs.E(errs.Op("parcel.Get"), err)
	}
	return s.get(ctx, id)
}

func (s *Service) get(ctx context.Context, id string) (Parcel, error) {
	q := s.db.Q()
	dp, err := q.ParcelByID(ctx, id)
	if err != nil {
		return Parcel{}, err
	}
	out := s.parcelOut(dp)
	rs, err := q.ParcelRecipients(ctx, id)
	if err != nil {
		return Parcel{}, err
	}
	ds, err := q.ParcelDownloads(ctx, id)
	if err != nil {
		return Parcel{}, err
	}
	for _, r := range rs {
		rr := Recipient{ID: r.ID, Email: r.Email, Revoked: r.Revoked, Locked: r.FailedUnlocks >= s.policy.MaxUnlockFailures,
			Views: r.Views, FirstView: r.FirstView, LastView: r.LastView}
		for _, d := range ds {
			if d.RecipientID == r.ID {
				rr.Downloads = append(rr.Downloads, Download{FileID: d.FileID, Count: d.Count, First: d.First, Last: d.Last})
			}
		}
		out.Recipients = append(out.Recipients, rr)
	}
	fs, err := q.ParcelFiles(ctx, id)
	if err != nil {
		return Parcel{}, err
	}
	for _, f := range fs {
		out.Files = append(out.Files, fileOut(f, dp.E2E))
	}
	return out, nil
}

// AddFile adds a file to the caller's draft: name is its file name (e2e: its sealed
// metadata), size its length or -1, sum its SHA-256 if known. Errors: NotFound, Conflict
// (not a draft), Invalid, Exist, TooLarge (too many files), Quota, Integrity.
func (s *Service) AddFile(ctx context.Context, p auth.Principal, id, name string, r io.Reader, size int64, sum []byte) (File, error) {
	const op = errs.Op("parcel.AddFile")
	u, err := s.ownerUploader(ctx, p, id, audit.ActParcelFile)
	if err != nil {
		return File{}, errs.E(op, err)
	}
	f, err := s.store(ctx, u.p, u.by, name, r, size, sum, u.rec)
	if err != nil {
		return File{}, u.fail(errs.E(op, err))
	}
	return f, nil
}

// store stores a file of parcel dp uploaded by recipient by (zero: the owner), recording
// it and rec in the transaction that publishes it.
func (s *Service) store(ctx context.Context, dp db.Parcel, by db.ParcelRecipient, name string, r io.Reader, size int64, sum []byte, rec audit.Record) (File, error) {
	if err := checkFileName(dp, name); err != nil {
		return File{}, err
	}
	uploader := by.ID
	q := s.db.Q()
	n, err := q.CountParcelFiles(ctx, dp.ID)
	if err != nil {
		return File{}, err
	}
	m, err := q.CountParcelUploads(ctx, dp.ID)
	if err != nil {
		return File{}, err
	}
	if n+m >= int64(s.policy.MaxFiles) {
		return File{}, errs.E(errs.TooLarge, fmt.Sprintf("a parcel may have at most %d files (counting the resumable uploads under way)", s.policy.MaxFiles))
	}
	if taken, err := q.ParcelFileNameTaken(ctx, dp.ID, uploader, name); err != nil || taken {
		if err == nil {
			err = errs.E(errs.Exist, "a file of that name is in the parcel already")
		}
		return File{}, err
	}
	// A resumable upload of the name would find it taken when it completes.
	if _, err := q.ParcelUploadNamed(ctx, dp.ID, uploader, name); err == nil {
		return File{}, errs.E(errs.Exist, "a resumable upload of that name is under way: cancel it (DELETE its URL) or wait until it expires")
	} else if !errs.Is(errs.NotFound, err) {
		return File{}, err
	}
	f := db.ParcelFile{ID: newID(), ParcelID: dp.ID, Name: name, Uploader: uploader}
	_, err = s.files.PutOwned(ctx, dp.FolderID, f.ID, r, files.OwnedPut{Size: size, SHA256: sum, Publish: s.publish(ctx, dp, by, &f, rec)})
	if err != nil {
		return File{}, err
	}
	return fileOut(f, dp.E2E), nil
}

// publish returns the function that adds f, uploaded into dp by recipient by (zero: the
// owner), to the parcel in the transaction that makes its content visible, with rec.
func (s *Service) publish(ctx context.Context, dp db.Parcel, by db.ParcelRecipient, f *db.ParcelFile, rec audit.Record) func(db.Q, files.Entry) error {
	return func(q db.Q, e files.Entry) error {
		f.Size, f.SHA256, f.Created = e.Size, e.SHA256, s.now()
		if err := q.InsertParcelFile(ctx, *f); err != nil {
			if errs.Is(errs.Exist, err) {
				return errs.E(errs.Exist, "a file of that name is in the parcel already")
			}
			return err
		}
		rec.Bytes, rec.Detail = e.Size, "file "+f.ID
		if by.ID != "" {
			if err := s.notify(ctx, q, EventUploaded, dp, nil, by.Email); err != nil {
				return err
			}
		}
		return s.audit.AppendTx(ctx, q, rec)
	}
}

// Send sends the caller's draft: its links are made and returned (once), and it expires
// after its lifetime from now. An e2e parcel needs its sealed manifest; others must not
// have one. Errors: NotFound, Conflict (not a draft), Invalid (no files, manifest).
func (s *Service) Send(ctx context.Context, p auth.Principal, id, manifest string) (Parcel, []Link, error) {
	const op = errs.Op("parcel.Send")
	rec := ownerRecord(p, audit.ActParcelSend, id)
	links, err := s.send(ctx, p, id, manifest, &rec)
	if err != nil {
		return Parcel{}, nil, s.fail(ctx, rec, errs.E(op, err))
	}
	out, err := s.get(ctx, id)
	return out, links, err
}

func (s *Service) send(ctx context.Context, p auth.Principal, id, manifest string, rec *audit.Record) ([]Link, error) {
	dp, err := s.owned(ctx, p, id)
	if err != nil {
		return nil, err
	}
	if err := s.live(dp); err != nil {
		return nil, err
	}
	if dp.State != StateDraft {
		return nil, errs.E(errs.Conflict, "the parcel was sent already")
	}
	switch {
	case dp.E2E:
		if err := checkSealed("manifest", manifest, MaxManifestChars); err != nil {
			return nil, err
		}
	case manifest != "":
		return nil, errs.E(errs.Invalid, "only end-to-end parcels have a manifest")
	}
	var links []Link
	now := s.now()
	err = s.db.Tx(ctx, func(q db.Q) error {
		n, err := q.CountParcelFiles(ctx, id)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.E(errs.Invalid, "add at least one file before sending")
		}
		if err := q.SendParcel(ctx, id, now, now.Add(dp.Lifetime), manifest); err != nil {
			if errs.Is(errs.NotFound, err) {
				return errs.E(errs.Conflict, "the parcel was sent or revoked meanwhile")
			}
			return err
		}
		rs, err := q.ParcelRecipients(ctx, id)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if !r.Revoked.IsZero() {
				continue // revoked while a draft: no link, no mail
			}
			token, h := newToken()
			if err := q.SetRecipientToken(ctx, r.ID, h); err != nil {
				return err
			}
			links = append(links, Link{RecipientID: r.ID, Email: r.Email, Token: token})
		}
		if len(links) == 0 {
			return errs.E(errs.Invalid, "every recipient of this draft was revoked: add one before sending")
		}
		dp.State, dp.Sent, dp.Expires, dp.Manifest = StateSent, now, now.Add(dp.Lifetime), manifest
		if err := s.notify(ctx, q, EventLinks, dp, links, ""); err != nil {
			return err
		}
		rec.Detail = fmt.Sprintf("%d files, %d links, expires %s", n, len(links), now.Add(dp.Lifetime).UTC().Format(time.RFC3339))
		return s.audit.AppendTx(ctx, q, *rec)
	})
	return links, err
}

// AddRecipient adds a recipient to one of the caller's parcels. Once the parcel is sent
// (or an open request) their link is made at once and returned; for a draft, Token is
// empty and the link comes with Send. Errors: NotFound, Gone, Invalid, Exist, TooLarge.
func (s *Service) AddRecipient(ctx context.Context, p auth.Principal, id, email string) (Link, error) {
	const op = errs.Op("parcel.AddRecipient")
	rec := ownerRecord(p, audit.ActParcelRecipient, id)
	rec.Detail = email
	link, err := s.addRecipient(ctx, p, id, email, &rec)
	if err != nil {
		return Link{}, s.fail(ctx, rec, errs.E(op, err))
	}
	return link, nil
}

func (s *Service) addRecipient(ctx context.Context, p auth.Principal, id, email string, rec *audit.Record) (Link, error) {
	dp, err := s.owned(ctx, p, id)
	if err != nil {
		return Link{}, err
	}
	if err := s.live(dp); err != nil {
		return Link{}, err
	}
	if email, err = checkEmail(email); err != nil {
		return Link{}, err
	}
	link := Link{RecipientID: newID(), Email: email}
	err = s.db.Tx(ctx, func(q db.Q) error {
		rs, err := q.ParcelRecipients(ctx, id)
		if err != nil {
			return err
		}
		if len(rs) >= s.policy.MaxRecipients {
			return errs.E(errs.TooLarge, fmt.Sprintf("a parcel may have at most %d recipients", s.policy.MaxRecipients))
		}
		for _, r := range rs {
			if strings.EqualFold(r.Email, email) && r.Revoked.IsZero() {
				return errs.E(errs.Exist, "that address is a recipient already (revoke it first for a new link)")
			}
		}
		var h []byte
		if dp.State != StateDraft {
			link.Token, h = newToken()
		}
		r := db.ParcelRecipient{ID: link.RecipientID, ParcelID: id, Email: email, Created: s.now()}
		if err := q.InsertParcelRecipient(ctx, r, h); err != nil {
			return err
		}
		if link.Token != "" {
			if err := s.notify(ctx, q, EventLinks, dp, []Link{link}, ""); err != nil {
				return err
			}
		}
		rec.Target = r.ID
		return s.audit.AppendTx(ctx, q, *rec)
	})
	return link, err
}

// RevokeRecipient revokes one link of the caller's parcel; the others keep working.
// Errors: NotFound, Conflict (revoked already).
func (s *Service) RevokeRecipient(ctx context.Context, p auth.Principal, id, recipientID string) error {
	const op = errs.Op("parcel.RevokeRecipient")
	rec := ownerRecord(p, audit.ActParcelRevoke, id)
	rec.Target = recipientID
	err := s.revokeRecipient(ctx, p, id, recipientID, rec)
	if err != nil {
		return s.fail(ctx, rec, errs.E(op, err))
	}
	return nil
}

func (s *Service) revokeRecipient(ctx context.Context, p auth.Principal, id, recipientID string, rec audit.Record) error {
	if _, err := s.owned(ctx, p, id); err != nil {
		return err
	}
	r, err := s.db.Q().ParcelRecipientByID(ctx, recipientID)
	if err != nil || r.ParcelID != id {
		return errs.E(errs.NotFound, "no such recipient of this parcel")
	}
	return s.db.Tx(ctx, func(q db.Q) error {
		if err := q.RevokeParcelRecipient(ctx, recipientID, s.now()); err != nil {
			if errs.Is(errs.NotFound, err) {
				return errs.E(errs.Conflict, "the recipient's link was revoked already")
			}
			return err
		}
		if err := s.revoked(ctx, q, id, recipientID); err != nil {
			return err
		}
		rec.Detail = r.Email
		return s.audit.AppendTx(ctx, q, rec)
	})
}

// Revoke revokes the caller's parcel: every link stops working at once, and maintenance
// deletes its contents. Errors: NotFound, Conflict (revoked already).
func (s *Service) Revoke(ctx context.Context, p auth.Principal, id string) error {
	const op = errs.Op("parcel.Revoke")
	rec := ownerRecord(p, audit.ActParcelRevoke, id)
	err := s.ownerChange(ctx, p, id, rec, func(q db.Q) error {
		if err := q.RevokeParcel(ctx, id, s.now()); err != nil {
			return err
		}
		return s.revoked(ctx, q, id, "")
	}, "the parcel was revoked already")
	if err != nil {
		return s.fail(ctx, rec, errs.E(op, err))
	}
	return nil
}

// Close stops the caller's request from accepting files; what arrived stays readable.
// Errors: NotFound, Conflict (not an open request).
func (s *Service) Close(ctx context.Context, p auth.Principal, id string) error {
	const op = errs.Op("parcel.Close")
	rec := ownerRecord(p, audit.ActParcelClose, id)
	err := s.ownerChange(ctx, p, id, rec, func(q db.Q) error { return q.CloseParcel(ctx, id) }, "only an open request can be closed")
	if err != nil {
		return s.fail(ctx, rec, errs.E(op, err))
	}
	return nil
}

// ownerChange applies change (whose NotFound means: not in a state for it, conflict)
// to the caller's parcel id, with rec, in one transaction.
func (s *Service) ownerChange(ctx context.Context, p auth.Principal, id string, rec audit.Record, change func(db.Q) error, conflict string) error {
	if _, err := s.owned(ctx, p, id); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(q db.Q) error {
		if err := change(q); err != nil {
			if errs.Is(errs.NotFound, err) {
				return errs.E(errs.Conflict, conflict)
			}
			return err
		}
		return s.audit.AppendTx(ctx, q, rec)
	})
}

// OpenFile opens a file of the caller's parcel (what was uploaded to a request, or what
// the caller sent). Close the Reader: it audits the download. Errors: NotFound, Gone.
func (s *Service) OpenFile(ctx context.Context, p auth.Principal, id, fileID string) (*files.Reader, File, error) {
	const op = errs.Op("parcel.OpenFile")
	rec := ownerRecord(p, audit.ActParcelDownload, id)
	rec.Detail = "file " + fileID
	dp, err := s.owned(ctx, p, id)
	if err == nil && !dp.Purged.IsZero() {
		err = errs.E(errs.Gone, "the parcel's files were deleted when it expired or was revoked")
	}
	var f db.ParcelFile
	if err == nil {
		if f, err = s.db.Q().ParcelFileByID(ctx, id, fileID); errs.Is(errs.NotFound, err) {
			err = errs.E(errs.NotFound, "no such file in this parcel")
		}
	}
	var r *files.Reader
	if err == nil {
		r, err = s.files.OpenOwned(ctx, dp.FolderID, f.ID, s.audited(ctx, rec))
	}
	if err != nil {
		return nil, File{}, s.fail(ctx, rec, errs.E(op, err))
	}
	return r, fileOut(f, dp.E2E), nil
}

// audited returns the done callback of a download: it appends rec with the bytes read
// and the outcome.
func (s *Service) audited(ctx context.Context, rec audit.Record) func(int64, error) {
	return func(n int64, failure error) {
		rec.Bytes, rec.Result = n, audit.OK
		if failure != nil {
			rec.Result, rec.Detail = audit.Failed, rec.Detail+": "+failure.Error()
		}
		if err := s.audit.Append(context.WithoutCancel(ctx), rec); err != nil {
			s.log.Error("cannot write audit record", "action", rec.Action, "err", err)
		}
	}
}

// Purge deletes the contents of parcels that expired or were revoked (and of drafts never
// sent), keeping their rows for the receipts. It returns how many parcels it purged.
func (s *Service) Purge(ctx context.Context) (int, error) {
	n := 0
	for {
		due, err := s.db.Q().ParcelsToPurge(ctx, s.now(), 100)
		if err != nil || len(due) == 0 {
			return n, err
		}
		for _, dp := range due {
			rec := audit.Record{Actor: "coffer", Protocol: audit.System, Action: audit.ActParcelPurge, Path: "/parcels/" + dp.ID,
				Result: audit.OK, Detail: s.status(dp)}
			err := s.files.EmptyOwned(ctx, dp.FolderID, func(q db.Q) error {
				if err := q.MarkParcelPurged(ctx, dp.ID, s.now()); err != nil {
					return err
				}
				return s.audit.AppendTx(ctx, q, rec)
			})
			if err != nil {
				return n, err
			}
			n++
		}
	}
}
