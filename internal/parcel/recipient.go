package parcel

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// Recipients use these with their link's token; they have no account. Every call is
// audited, and a token that matches no link gets one answer, whatever the reason.

// errInvalidLink is the one answer to a token that matches no link.
func errInvalidLink() error { return errs.E(errs.NotFound, "this link is not valid") }

// Access is what a link's holder presents: the token, and a ticket once they have
// entered the passphrase.
type Access struct {
	Token  string
	Ticket string
	Client auth.Client
}

// View is what a link shows its holder. Before the passphrase is given (Locked), only
// the sender, subject and expiry are filled in.
type View struct {
	Kind         string
	Sender       string
	Subject      string
	Message      string
	Expires      time.Time
	E2E          bool
	KDFSalt      []byte // e2e with a passphrase
	Manifest     string // e2e send parcels
	Passphrase   bool   // the parcel needs a passphrase
	Locked       bool   // ... and this request carried no valid ticket
	CanUpload    bool   // a request that accepts files
	MaxDownloads int64
	Files        []ViewFile // send parcels: every file; requests: those this recipient uploaded
}

// ViewFile is a file as a recipient sees it.
type ViewFile struct {
	File
	DownloadsLeft int64 // -1: unlimited
}

// link is a resolved token.
type link struct {
	r   db.ParcelRecipient
	p   db.Parcel
	rec audit.Record
}

// resolve finds the link of a.Token and checks that it may be used. The returned record
// is the audit record for action by this recipient.
func (s *Service) resolve(ctx context.Context, a Access, action string) (link, error) {
	rec := audit.Record{Actor: "anonymous", SourceIP: a.Client.IP, Protocol: a.Client.Protocol, Action: action}
	if len(a.Token) != base64.RawURLEncoding.EncodedLen(TokenBytes) {
		rec.Action = audit.ActParcelLink
		return link{rec: rec}, errInvalidLink()
	}
	r, err := s.db.Q().RecipientByTokenHash(ctx, tokenHash(a.Token))
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			h := tokenHash(a.Token)
			rec.Action, rec.Target = audit.ActParcelLink, "token sha256 "+hex.EncodeToString(h[:8])
			return link{rec: rec}, errInvalidLink()
		}
		return link{rec: rec}, err
	}
	rec.Actor, rec.Target = "recipient:"+r.Email, r.ID
	if r.Email == "" {
		rec.Actor = "recipient:link"
	}
	p, err := s.db.Q().ParcelByID(ctx, r.ParcelID)
	if err != nil {
		return link{rec: rec}, err
	}
	rec.Path = "/parcels/" + p.ID
	l := link{r: r, p: p, rec: rec}
	switch {
	case !p.Revoked.IsZero() || !r.Revoked.IsZero():
		return l, errs.E(errs.Gone, "this link was revoked by the sender")
	case !s.now().Before(p.Expires) || !p.Purged.IsZero():
		return l, errs.E(errs.Gone, fmt.Sprintf("this link expired on %s", p.Expires.UTC().Format("2006-01-02 15:04 MST")))
	case p.OwnerDisabled:
		// Disabling an account (someone left, or it was taken over), or a tripwire's
		// suspension of it (a mass download: perhaps taken over), stops what it sent and
		// asked for, as it stops its sign-ins: an intruder's links to what they took stop
		// too. Enabling the account (lifting the suspension) brings the links back.
		return l, errs.E(errs.Gone, "this link no longer works: the sender's account is disabled or suspended")
	case r.FailedUnlocks >= s.policy.MaxUnlockFailures:
		return l, errs.E(errs.Gone, "this link is locked after too many wrong passphrases: ask the sender for a new one")
	}
	return l, nil
}

// unlocked reports whether a may see the parcel's contents: it needs no passphrase, or a
// carries a valid ticket for this recipient.
func (s *Service) unlocked(l link, a Access) bool {
	return l.p.PassphraseHash == "" || s.checkTicket(a.Ticket, l.r.ID)
}

// denied audits a recipient's failed or refused request and returns err.
func (s *Service) denied(ctx context.Context, l link, err error) error {
	rec := l.rec
	rec.Result = audit.Denied
	if k := errs.KindOf(err); k == errs.Other || k == errs.Unavailable || k == errs.Integrity || k == errs.Canceled {
		rec.Result = audit.Failed
	}
	rec.Detail = errs.Detail(err)
	if aerr := s.audit.Append(context.WithoutCancel(ctx), rec); aerr != nil {
		s.log.Error("cannot write audit record", "action", rec.Action, "err", aerr)
	}
	return err
}

// access resolves a for action and requires the passphrase's ticket when the parcel has
// one. Failures are audited.
func (s *Service) access(ctx context.Context, a Access, action string) (link, error) {
	l, err := s.resolve(ctx, a, action)
	if err == nil && !s.unlocked(l, a) {
		err = errs.E(errs.Unauthenticated, "this parcel needs its passphrase: unlock it first")
	}
	if err != nil {
		return l, s.denied(ctx, l, err)
	}
	return l, nil
}

// View returns what the link shows, and counts the view. Errors: NotFound (not a valid
// link), Gone (expired, revoked, locked, or every download used up).
func (s *Service) View(ctx context.Context, a Access) (View, error) {
	l, err := s.resolve(ctx, a, audit.ActParcelView)
	if err != nil {
		return View{}, s.denied(ctx, l, err)
	}
	p := l.p
	v := View{Kind: p.Kind, Sender: p.OwnerName, Subject: p.Subject, Expires: p.Expires, E2E: p.E2E, KDFSalt: p.KDFSalt,
		Passphrase: p.PassphraseHash != "", MaxDownloads: p.MaxDownloads}
	v.Locked = !s.unlocked(l, a)
	if !v.Locked {
		v.Message, v.Manifest = p.Message, p.Manifest
		v.CanUpload = p.Kind == KindRequest && p.State == StateOpen
		if v.Files, err = s.viewFiles(ctx, l); err != nil {
			return View{}, s.denied(ctx, l, err)
		}
		if p.Kind == KindSend && exhausted(v.Files) {
			return View{}, s.denied(ctx, l, errs.E(errs.Gone, "every file of this link was downloaded as often as the sender allowed"))
		}
	}
	rec := l.rec
	rec.Result = audit.OK
	if v.Locked {
		rec.Detail = "passphrase not yet given"
	}
	err = s.db.Tx(ctx, func(q db.Q) error {
		if err := q.ParcelRecipientViewed(ctx, l.r.ID, s.now()); err != nil {
			return err
		}
		return s.audit.AppendTx(ctx, q, rec)
	})
	if err != nil {
		return View{}, err
	}
	return v, nil
}

func exhausted(fs []ViewFile) bool {
	for _, f := range fs {
		if f.DownloadsLeft != 0 {
			return false
		}
	}
	return len(fs) > 0
}

// viewFiles lists the files the recipient of l may see, with their downloads left.
func (s *Service) viewFiles(ctx context.Context, l link) ([]ViewFile, error) {
	q := s.db.Q()
	fs, err := q.ParcelFiles(ctx, l.p.ID)
	if err != nil {
		return nil, err
	}
	ds, err := q.RecipientDownloads(ctx, l.r.ID)
	if err != nil {
		return nil, err
	}
	used := map[string]int64{}
	for _, d := range ds {
		used[d.FileID] = d.Count
	}
	out := []ViewFile{}
	for _, f := range fs {
		if l.p.Kind == KindRequest && f.Uploader != l.r.ID {
			continue // a request's files are the requester's; an uploader sees only their own
		}
		left := int64(-1)
		if l.p.MaxDownloads > 0 {
			left = max(0, l.p.MaxDownloads-used[f.ID])
		}
		if l.p.Kind == KindRequest {
			left = 0 // uploaders do not download
		}
		out = append(out, ViewFile{File: fileOut(f, l.p.E2E), DownloadsLeft: left})
	}
	return out, nil
}

// Unlock checks the passphrase (e2e: the verifier) of a link and returns a ticket for
// TicketLifetime. Errors: NotFound, Gone (also once the link locks), Unauthenticated
// (wrong passphrase), Invalid (the parcel has none).
func (s *Service) Unlock(ctx context.Context, a Access, passphrase string) (ticket string, expires time.Time, err error) {
	l, err := s.resolve(ctx, a, audit.ActParcelUnlock)
	if err == nil && l.p.PassphraseHash == "" {
		err = errs.E(errs.Invalid, "this parcel has no passphrase")
	}
	if err == nil && len(passphrase) > MaxPassphraseBytes {
		err = errs.E(errs.Invalid, "the passphrase is too long")
	}
	if err != nil {
		return "", time.Time{}, s.denied(ctx, l, err)
	}
	if !auth.CheckPassword(l.p.PassphraseHash, passphrase) {
		n, err := s.db.Q().ParcelUnlockFailed(ctx, l.r.ID)
		if err != nil {
			return "", time.Time{}, err
		}
		msg := fmt.Sprintf("wrong passphrase (%d tries left)", max(0, s.policy.MaxUnlockFailures-n))
		if n >= s.policy.MaxUnlockFailures {
			msg = "wrong passphrase; this link is now locked: ask the sender for a new one"
		}
		return "", time.Time{}, s.denied(ctx, l, errs.E(errs.Unauthenticated, msg))
	}
	expires = s.now().Add(s.policy.TicketLifetime)
	ticket, err = s.ticket(l.r.ID, expires)
	if err != nil {
		return "", time.Time{}, err
	}
	rec := l.rec
	rec.Result = audit.OK
	if err := s.audit.Append(ctx, rec); err != nil {
		return "", time.Time{}, err
	}
	return ticket, expires, nil
}

// Download counts a download of file fileID by the link's recipient and opens it. Close
// the Reader: it audits the download with the bytes sent. Errors: NotFound (no valid
// link, no such file), Gone (this file's downloads are used up), Unauthenticated
// (passphrase), Conflict (a request's link downloads nothing).
func (s *Service) Download(ctx context.Context, a Access, fileID string) (*files.Reader, File, error) {
	l, err := s.access(ctx, a, audit.ActParcelDownload)
	if err != nil {
		return nil, File{}, err
	}
	fs, err := s.countDownloads(ctx, l, []string{fileID})
	if err != nil {
		return nil, File{}, s.denied(ctx, l, err)
	}
	r, err := s.open(ctx, l, fs[0])
	if err != nil {
		return nil, File{}, s.denied(ctx, l, err)
	}
	return r, fs[0], nil
}

// DownloadAll counts one download of every file of the link's parcel, all or none, and
// returns the files and a function that opens each (its Reader audits as Download's
// does). Errors: those of Download; Conflict for e2e parcels (the client decrypts files
// one by one).
func (s *Service) DownloadAll(ctx context.Context, a Access) ([]File, func(File) (*files.Reader, error), error) {
	l, err := s.access(ctx, a, audit.ActParcelDownload)
	if err != nil {
		return nil, nil, err
	}
	if l.p.E2E {
		return nil, nil, s.denied(ctx, l, errs.E(errs.Conflict, "an end-to-end encrypted parcel is downloaded file by file, for your browser or client to decrypt"))
	}
	all, err := s.db.Q().ParcelFiles(ctx, l.p.ID)
	if err != nil {
		return nil, nil, err
	}
	ids := make([]string, len(all))
	for i, f := range all {
		ids[i] = f.ID
	}
	fs, err := s.countDownloads(ctx, l, ids)
	if err != nil {
		return nil, nil, s.denied(ctx, l, err)
	}
	return fs, func(f File) (*files.Reader, error) { return s.open(ctx, l, f) }, nil
}

// countDownloads counts one download of each of ids by l's recipient, in one
// transaction: all or none.
func (s *Service) countDownloads(ctx context.Context, l link, ids []string) ([]File, error) {
	if l.p.Kind != KindSend {
		return nil, errs.E(errs.Conflict, "this link is for uploading files, not for downloading")
	}
	var out []File
	err := s.db.Tx(ctx, func(q db.Q) error {
		first := false
		if l.p.Notify {
			before, err := q.RecipientDownloads(ctx, l.r.ID)
			if err != nil {
				return err
			}
			first = len(before) == 0
		}
		for _, id := range ids {
			f, err := q.ParcelFileByID(ctx, l.p.ID, id)
			if errs.Is(errs.NotFound, err) {
				return errs.E(errs.NotFound, "no such file in this parcel")
			}
			if err != nil {
				return err
			}
			ok, err := q.CountParcelDownload(ctx, l.r.ID, id, s.now(), l.p.MaxDownloads)
			if err != nil {
				return err
			}
			if !ok {
				return errs.E(errs.Gone, fmt.Sprintf("the file was downloaded %d times with this link, as often as the sender allowed", l.p.MaxDownloads))
			}
			out = append(out, fileOut(f, l.p.E2E))
		}
		if first {
			return s.notify(ctx, q, EventDownloaded, l.p, nil, l.r.Email)
		}
		return nil
	})
	return out, err
}

func (s *Service) open(ctx context.Context, l link, f File) (*files.Reader, error) {
	rec := l.rec
	rec.Detail = "file " + f.ID
	return s.files.OpenOwned(ctx, l.p.FolderID, f.ID, s.audited(ctx, rec))
}

// Upload stores a file that the link's recipient uploads to a request. name is the file
// name (e2e: its sealed metadata), size its length or -1, sum its SHA-256 if known.
// Errors: NotFound, Gone (also: the request is closed), Unauthenticated, Conflict (not a
// request), Invalid, Exist, TooLarge, Quota, Integrity.
func (s *Service) Upload(ctx context.Context, a Access, name string, r io.Reader, size int64, sum []byte) (File, error) {
	u, err := s.recipientUploader(ctx, a, audit.ActParcelFile)
	if err != nil {
		return File{}, err
	}
	f, err := s.store(ctx, u.p, u.by, name, r, size, sum, withResult(u.rec, audit.OK))
	if err != nil {
		return File{}, u.fail(err)
	}
	return f, nil
}

func withResult(rec audit.Record, result string) audit.Record {
	rec.Result = result
	return rec
}

// Tickets (docs/parcels.md, "Passphrases"): recipient id (16 bytes), expiry (8 bytes,
// Unix seconds), the MAC key's id (8 ASCII characters), HMAC-SHA-256 (32 bytes).
const (
	ticketPurpose = "parcel-ticket"
	ticketIDLen   = 8
	ticketLen     = 16 + 8 + ticketIDLen + sha256.Size
)

func (s *Service) ticket(recipientID string, expires time.Time) (string, error) {
	id, err := hex.DecodeString(recipientID)
	if err != nil || len(id) != 16 {
		return "", errs.E(errs.Other, "malformed recipient id")
	}
	keyID := s.keys.PrimaryID()
	if len(keyID) != ticketIDLen {
		return "", errs.E(errs.Other, "unexpected key id length")
	}
	msg := binary.BigEndian.AppendUint64(id, uint64(expires.Unix()))
	msg = append(msg, keyID...)
	mac, err := s.keys.MAC(keyID, ticketPurpose, msg)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(append(msg, mac...)), nil
}

func (s *Service) checkTicket(ticket, recipientID string) bool {
	b, err := base64.RawURLEncoding.DecodeString(ticket)
	if err != nil || len(b) != ticketLen {
		return false
	}
	msg, mac := b[:ticketLen-sha256.Size], b[ticketLen-sha256.Size:]
	keyID := string(msg[24:])
	if !s.keys.VerifyMAC(keyID, ticketPurpose, msg, mac) {
		return false
	}
	if !strings.EqualFold(hex.EncodeToString(msg[:16]), recipientID) {
		return false
	}
	return s.now().Unix() < int64(binary.BigEndian.Uint64(msg[16:24]))
}
