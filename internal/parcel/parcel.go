// Package parcel holds the use cases of parcels (docs/parcels.md): files sent to, or
// requested from, people without an account, each recipient with a link of their own.
// It alone authorises, bounds, counts, expires, revokes and audits parcels, for every
// front-end; their contents are stored by the files package in folders it owns.
package parcel

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// Kinds of parcels.
const (
	KindSend    = "send"
	KindRequest = "request"
)

// States of a parcel as stored; Status adds those that follow from time and revocation.
const (
	StateDraft  = "draft"
	StateSent   = "sent"
	StateOpen   = "open"
	StateClosed = "closed"
)

// Policy bounds parcels (docs/parcels.md, "Limits").
type Policy struct {
	DefaultLifetime     time.Duration
	MaxLifetime         time.Duration
	DraftLifetime       time.Duration // an unsent draft is purged after this
	MaxSubjectBytes     int
	MaxMessageBytes     int
	MaxRecipients       int
	MaxFiles            int
	MaxParcelBytes      int64 // the quota of a parcel's folder
	DefaultMaxDownloads int64 // per recipient and file; 0 = unlimited
	MaxUnlockFailures   int64
	TicketLifetime      time.Duration
	RequireE2E          bool
}

// DefaultPolicy returns the policy documented in docs/parcels.md.
func DefaultPolicy() Policy {
	return Policy{
		DefaultLifetime:     7 * 24 * time.Hour,
		MaxLifetime:         30 * 24 * time.Hour,
		DraftLifetime:       24 * time.Hour,
		MaxSubjectBytes:     200,
		MaxMessageBytes:     10000,
		MaxRecipients:       50,
		MaxFiles:            500,
		MaxParcelBytes:      10 << 30,
		DefaultMaxDownloads: 5,
		MaxUnlockFailures:   10,
		TicketLifetime:      time.Hour,
	}
}

// Format limits that are not policy.
const (
	MaxPassphraseBytes = 1024
	MinPassphraseBytes = 8
	MaxMetaChars       = 4096      // e2e file metadata, base64url
	MaxManifestChars   = 128 << 10 // e2e manifest, base64url
	KDFSaltBytes       = 16
	maxEmailBytes      = 254
)

// Keys computes and checks MACs (for tickets): crypt.Keyring satisfies it.
type Keys interface {
	PrimaryID() string
	MAC(id, purpose string, msg []byte) ([]byte, error)
	VerifyMAC(id, purpose string, msg, mac []byte) bool
}

// Service implements the parcel use cases.
type Service struct {
	db     *db.DB
	files  *files.Service
	audit  *audit.Log
	keys   Keys
	log    *slog.Logger
	policy Policy
	now    func() time.Time

	notifier Notifier // nil: nobody is e-mailed
}

// New returns a Service.
func New(d *db.DB, f *files.Service, a *audit.Log, keys Keys, log *slog.Logger, policy Policy) *Service {
	return &Service{db: d, files: f, audit: a, keys: keys, log: log, policy: policy, now: time.Now}
}

// SetClock replaces the clock, for tests of expiry.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Policy returns the policy in force.
func (s *Service) Policy() Policy { return s.policy }

// Parcel is a parcel as its owner sees it.
type Parcel struct {
	ID            string
	Kind          string
	Status        string // State, or "expired" / "revoked" when those apply
	Owner         string
	Subject       string
	Message       string
	E2E           bool
	KDFSalt       []byte
	Manifest      string
	HasPassphrase bool
	MaxDownloads  int64
	Notify        bool
	Created       time.Time
	Sent          time.Time
	Expires       time.Time
	Revoked       time.Time
	Purged        time.Time
	Recipients    []Recipient
	Files         []File
}

// Recipient is one link of a parcel with its delivery receipts.
type Recipient struct {
	ID        string
	Email     string // "" for the link of a parcel without recipients
	Revoked   time.Time
	Locked    bool // too many wrong passphrases
	Views     int64
	FirstView time.Time
	LastView  time.Time
	Downloads []Download
}

// Download is a delivery receipt.
type Download struct {
	FileID string
	Count  int64
	First  time.Time
	Last   time.Time
}

// File is a file of a parcel.
type File struct {
	ID       string
	Name     string // e2e: the sealed metadata
	Size     int64
	SHA256   []byte
	Uploader string // "" the owner, else the recipient id
	Created  time.Time
	Sealed   bool // Name is e2e metadata, not a file name
}

// Link is a recipient's link secret, shown once. The front-end makes the URL
// (/p/TOKEN); an e2e client appends the key fragment itself.
type Link struct {
	RecipientID string
	Email       string
	Token       string
}

// NewParcel describes a parcel to create.
type NewParcel struct {
	Kind         string // KindSend (default) or KindRequest
	Subject      string
	Message      string
	Recipients   []string      // e-mail addresses; none: one link to pass on
	Lifetime     time.Duration // 0: the policy's default
	MaxDownloads *int64        // nil: the policy's default; 0: unlimited
	Passphrase   string        // e2e: the verifier (docs/parcels.md)
	Notify       bool
	E2E          bool
	KDFSalt      []byte // e2e with a passphrase: 16 bytes
}

func fileOut(f db.ParcelFile, sealed bool) File {
	return File{ID: f.ID, Name: f.Name, Size: f.Size, SHA256: f.SHA256, Uploader: f.Uploader, Created: f.Created, Sealed: sealed}
}

func (s *Service) status(p db.Parcel) string {
	switch {
	case !p.Revoked.IsZero():
		return "revoked"
	case !s.now().Before(p.Expires):
		return "expired"
	}
	return p.State
}

// newID returns a public handle: 16 random bytes in hex.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// TokenBytes is the entropy of a link token.
const TokenBytes = 24

// newToken returns a link token and the hash the database keeps of it.
func newToken() (token string, hash []byte) {
	var b [TokenBytes]byte
	rand.Read(b[:])
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, tokenHash(token)
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// ownerRecord is an audit record of the owner p acting on parcel id.
func ownerRecord(p auth.Principal, action, id string) audit.Record {
	return audit.Record{Actor: p.Name, SourceIP: p.SourceIP, Protocol: p.Protocol, Action: action, Path: "/parcels/" + id, Result: audit.OK}
}

// fail audits a failed or refused owner operation and returns err.
func (s *Service) fail(ctx context.Context, rec audit.Record, err error) error {
	rec.Result = audit.Failed
	switch errs.KindOf(err) {
	case errs.Permission, errs.Unauthenticated, errs.Invalid, errs.NotFound, errs.Gone, errs.TooLarge, errs.Quota:
		rec.Result = audit.Denied
	}
	rec.Detail = errs.Detail(err)
	if aerr := s.audit.Append(context.WithoutCancel(ctx), rec); aerr != nil {
		s.log.Error("cannot write audit record", "action", rec.Action, "err", aerr)
	}
	return err
}

// checkText validates a subject or message: valid UTF-8, at most max bytes, no control
// characters (but newlines and tabs when multiline), no bidirectional overrides.
func checkText(what, v string, max int, multiline bool) error {
	if len(v) > max {
		return errs.E(errs.TooLarge, fmt.Sprintf("the %s is longer than %d bytes", what, max))
	}
	if !utf8.ValidString(v) {
		return errs.E(errs.Invalid, "the "+what+" is not valid UTF-8")
	}
	for _, r := range v {
		switch {
		case multiline && (r == '\n' || r == '\t'):
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return errs.E(errs.Invalid, "the "+what+" has control characters")
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			return errs.E(errs.Invalid, "the "+what+" has bidirectional control characters")
		}
	}
	return nil
}

// checkEmail validates a recipient address: a bare RFC 5322 address, no display name.
func checkEmail(a string) (string, error) {
	if len(a) > maxEmailBytes {
		return "", errs.E(errs.Invalid, fmt.Sprintf("an e-mail address is longer than %d bytes", maxEmailBytes))
	}
	addr, err := mail.ParseAddress(a)
	if err != nil || addr.Name != "" || addr.Address != a || strings.ContainsAny(a, "\r\n") {
		return "", errs.E(errs.Invalid, fmt.Sprintf("%q is not an e-mail address (write it bare: name@example.org)", a))
	}
	return a, nil
}

// checkMeta validates e2e file metadata or a manifest: unpadded base64url, 1 to max characters.
func checkSealed(what, v string, max int) error {
	if v == "" || len(v) > max {
		return errs.E(errs.Invalid, fmt.Sprintf("the %s must be 1 to %d characters", what, max))
	}
	if _, err := base64.RawURLEncoding.DecodeString(v); err != nil {
		return errs.E(errs.Invalid, "the "+what+" must be unpadded base64url")
	}
	return nil
}

// checkFileName validates the name of a file of p: a file name, or e2e metadata.
func checkFileName(p db.Parcel, name string) error {
	if p.E2E {
		return checkSealed("sealed file metadata", name, MaxMetaChars)
	}
	return files.CheckName(name)
}

// user loads the caller's account; a disabled or deleted one is Unauthenticated.
func (s *Service) user(ctx context.Context, p auth.Principal) (db.User, error) {
	u, err := s.db.Q().UserByID(ctx, p.UserID)
	if errs.Is(errs.NotFound, err) || err == nil && u.Disabled {
		return db.User{}, errs.E(errs.Unauthenticated, "the account is disabled or no longer exists")
	}
	return u, err
}

// owned loads parcel id of the caller; another user's parcel is NotFound.
func (s *Service) owned(ctx context.Context, p auth.Principal, id string) (db.Parcel, error) {
	if _, err := s.user(ctx, p); err != nil {
		return db.Parcel{}, err
	}
	par, err := s.db.Q().ParcelByID(ctx, id)
	if err == nil && par.OwnerID != p.UserID {
		err = errs.E(errs.NotFound, "")
	}
	if errs.Is(errs.NotFound, err) {
		return db.Parcel{}, errs.E(errs.NotFound, "no such parcel")
	}
	return par, err
}

// live fails with Gone when parcel p is revoked, expired or purged.
func (s *Service) live(p db.Parcel) error {
	switch {
	case !p.Revoked.IsZero():
		return errs.E(errs.Gone, "the parcel was revoked")
	case !s.now().Before(p.Expires), !p.Purged.IsZero():
		return errs.E(errs.Gone, "the parcel has expired")
	}
	return nil
}
