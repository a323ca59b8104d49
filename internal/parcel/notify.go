package parcel

import (
	"context"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
)

// Notifier is told of the parcel events that people are e-mailed about (package notify
// implements it; docs/notify.md). Each call runs inside the transaction of the action,
// with its q, so that a mail is queued exactly when the action commits; an error aborts
// the action.
type Notifier interface {
	ParcelEvent(ctx context.Context, q db.Q, e Event) error
}

// Kinds of events.
const (
	EventLinks      = "links"      // links were made: a parcel sent, a request created, a recipient added
	EventDownloaded = "downloaded" // a recipient downloaded from a parcel with Notify set, for the first time
	EventUploaded   = "uploaded"   // a recipient uploaded a file to a request
	EventRevoked    = "revoked"    // a link (RecipientID), or every link of the parcel, was revoked
)

// Event is what a Notifier is told.
type Event struct {
	Kind       string
	ParcelID   string
	ParcelKind string // KindSend or KindRequest
	OwnerID    int64
	Sender     string // the owner's account name
	Subject    string
	Message    string // "" for end-to-end parcels (theirs is in the sealed manifest)
	Expires    time.Time
	Passphrase bool   // the parcel needs a passphrase (never the passphrase itself)
	E2E        bool   // the links need the key fragment that only the sender's client has
	Links      []Link // EventLinks: the new links (tokens are bearer secrets)
	Recipient  string // EventDownloaded, EventUploaded: the recipient's address ("" for a link without one)
	// RecipientID is, for EventRevoked, the one link revoked; "" when the whole parcel was.
	RecipientID string
}

// SetNotifier makes s tell n of events; nil (the default) tells nobody.
func (s *Service) SetNotifier(n Notifier) { s.notifier = n }

// notify tells the notifier, if any, of event kind on parcel p, in q's transaction.
func (s *Service) notify(ctx context.Context, q db.Q, kind string, p db.Parcel, links []Link, recipient string) error {
	if s.notifier == nil {
		return nil
	}
	return s.notifier.ParcelEvent(ctx, q, Event{Kind: kind, ParcelID: p.ID, ParcelKind: p.Kind, OwnerID: p.OwnerID,
		Sender: p.OwnerName, Subject: p.Subject, Message: p.Message, Expires: p.Expires, Passphrase: p.PassphraseHash != "",
		E2E: p.E2E, Links: links, Recipient: recipient})
}

// revoked tells the notifier, if any, in q's transaction, that the link of recipient
// recipientID of parcel id was revoked, or with recipientID "" every link of it.
func (s *Service) revoked(ctx context.Context, q db.Q, id, recipientID string) error {
	if s.notifier == nil {
		return nil
	}
	return s.notifier.ParcelEvent(ctx, q, Event{Kind: EventRevoked, ParcelID: id, RecipientID: recipientID})
}

// Notifier returns the notifier that SetNotifier set, or nil.
func (s *Service) Notifier() Notifier { return s.notifier }
