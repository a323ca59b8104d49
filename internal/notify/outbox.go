package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	gomail "github.com/wneessen/go-mail"
)

// Keys encrypts and decrypts the outbox's messages: crypt.Keyring satisfies it. Messages
// are sealed in the at-rest file format (docs/format.md) because they hold link tokens,
// bearer secrets, and may be longer than a sealed secret (crypt.MaxSecretSize).
type Keys interface {
	Encrypt(dst io.Writer, seen io.Writer) (header []byte, w *crypt.Writer, err error)
	Open(header []byte, payload io.ReaderAt, payloadSize int64) (io.ReaderAt, int64, error)
}

// Policy is how the outbox retries.
type Policy struct {
	GiveUpAfter time.Duration // a mail not sent this long after it was queued is dropped (and audited)
	FirstRetry  time.Duration // the wait after the first failure; it doubles with each failure ...
	MaxRetry    time.Duration // ... up to this
	Attempt     time.Duration // how long an attempt holds a mail (no other node sends it meanwhile)
	Batch       int           // mails per database round trip
}

// DefaultPolicy is the documented policy (docs/notify.md).
func DefaultPolicy() Policy {
	return Policy{GiveUpAfter: 72 * time.Hour, FirstRetry: time.Minute, MaxRetry: time.Hour, Attempt: 10 * time.Minute, Batch: 50}
}

// Outbox queues mail in the database and sends it.
type Outbox struct {
	db     *db.DB
	keys   Keys
	audit  *audit.Log
	smtp   SMTP
	policy Policy
	log    *slog.Logger
	now    func() time.Time
}

// NewOutbox returns an outbox that sends through s.
func NewOutbox(d *db.DB, keys Keys, a *audit.Log, s SMTP, p Policy, log *slog.Logger) *Outbox {
	return &Outbox{db: d, keys: keys, audit: a, smtp: s, policy: p, log: log, now: time.Now}
}

// SetClock replaces the clock, for tests of retries.
func (o *Outbox) SetClock(now func() time.Time) { o.now = now }

// Send queues m on its own, outside any other transaction: for callers whose mail is not
// tied to a change in the database (alerts). The job sends it.
func (o *Outbox) Send(ctx context.Context, to, subject, text, html string) error {
	return o.db.Tx(ctx, func(q db.Q) error {
		_, err := o.Enqueue(ctx, q, "mail", "", Message{To: to, Subject: subject, Text: text, HTML: html})
		return err
	})
}

// Enqueue queues m in q's transaction, under kind (what it is about, for logs). While a
// mail with the same non-empty topic waits, m is dropped and Enqueue reports false.
// Errors: Invalid (m fails Check).
func (o *Outbox) Enqueue(ctx context.Context, q db.Q, kind, topic string, m Message) (bool, error) {
	return o.enqueue(ctx, q, db.Mail{Kind: kind, Topic: topic}, m)
}

// EnqueueLink queues m, which carries the link of parcel recipient recipientID, in q's
// transaction: revoking the link (or its parcel) before m is sent withdraws it.
func (o *Outbox) EnqueueLink(ctx context.Context, q db.Q, kind, recipientID string, m Message) error {
	_, err := o.enqueue(ctx, q, db.Mail{Kind: kind, RecipientID: recipientID}, m)
	return err
}

// enqueue queues m as row, whose Kind, Topic and RecipientID are set.
func (o *Outbox) enqueue(ctx context.Context, q db.Q, row db.Mail, m Message) (bool, error) {
	domain, err := CheckAddress(m.To)
	if err != nil {
		return false, err
	}
	if err := m.Check(); err != nil {
		return false, err
	}
	plain, err := json.Marshal(m)
	if err != nil {
		return false, err
	}
	var body bytes.Buffer
	header, w, err := o.keys.Encrypt(&body, nil)
	if err != nil {
		return false, err
	}
	if _, err := w.Write(plain); err != nil {
		return false, err
	}
	if err := w.Close(); err != nil {
		return false, err
	}
	var id [16]byte
	rand.Read(id[:])
	now := o.now()
	row.ID, row.RcptDomain, row.Header, row.Body = hex.EncodeToString(id[:]), domain, header, body.Bytes()
	row.Created, row.GiveUp = now, now.Add(o.policy.GiveUpAfter)
	return q.InsertMail(ctx, row)
}

// open decrypts a queued mail.
func (o *Outbox) open(m db.Mail) (Message, error) {
	r, n, err := o.keys.Open(m.Header, bytes.NewReader(m.Body), int64(len(m.Body)))
	if err != nil {
		return Message{}, err
	}
	plain, err := io.ReadAll(io.NewSectionReader(r, 0, n))
	if err != nil {
		return Message{}, err
	}
	var out Message
	if err := json.Unmarshal(plain, &out); err != nil {
		return Message{}, errs.E(errs.Integrity, fmt.Errorf("malformed queued mail: %w", err))
	}
	return out, nil
}

// Deliver sends every mail that is due, over one connection, and returns how many were
// sent. A mail that fails is tried again later, each wait twice the last; one that is
// still failing when its time is up is dropped, logged at ERROR and audited. When the
// mail server cannot be reached, every due mail counts one failed attempt.
func (o *Outbox) Deliver(ctx context.Context) (sent int, err error) {
	var c *conn
	var dialErr error
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	for {
		due, err := o.db.Q().DueMail(ctx, o.now(), o.policy.Batch)
		if err != nil || len(due) == 0 {
			return sent, err
		}
		for _, m := range due {
			if err := o.db.Q().ClaimMail(ctx, m, o.now().Add(o.policy.Attempt)); err != nil {
				if errs.Is(errs.NotFound, err) {
					continue // another attempt has it
				}
				return sent, err
			}
			if m.RecipientID != "" {
				send, err := o.linkLive(ctx, m)
				if err != nil {
					return sent, err
				}
				if !send {
					continue
				}
			}
			msg, err := o.open(m)
			if err != nil {
				o.giveUp(ctx, m, err)
				continue
			}
			if c == nil && dialErr == nil {
				c, dialErr = o.smtp.dial(ctx)
			}
			err = dialErr
			if err == nil {
				err = c.send(m.ID, msg)
			}
			if err == nil {
				sent++
				o.log.Info("mail sent", "mail", m.ID, "kind", m.Kind, "domain", m.RcptDomain, "attempts", m.Attempts+1)
				if err := o.db.Q().DeleteMail(ctx, m.ID); err != nil && !errs.Is(errs.NotFound, err) {
					return sent, err // NotFound: its link was revoked while it was being sent
				}
				continue
			}
			if ctx.Err() != nil {
				return sent, ctx.Err() // the job was stopped: not the mail's fault
			}
			if refused(err) {
				o.giveUp(ctx, m, err) // trying again would get the same answer
				continue
			}
			if err := o.failed(ctx, m, err); err != nil {
				return sent, err
			}
		}
	}
}

// errOwnerDisabled is why a mail held for its disabled (or suspended) sender is dropped
// in the end.
var errOwnerDisabled = errors.New("the parcel's owner stayed disabled or suspended until the mail's time was up")

// linkLive checks the parcel link that m carries, just before sending m: a link revoked,
// expired or purged (whatever path made it so: a revoke, the parcel's lifetime, a revoke
// that raced with adding the recipient) withdraws m; a disabled owner holds it, as it
// holds the link, until the account is enabled again (it is looked at every FirstRetry,
// and a hold counts no attempt) or m's time is up. It reports whether to send m.
func (o *Outbox) linkLive(ctx context.Context, m db.Mail) (bool, error) {
	l, err := o.db.Q().MailLinkState(ctx, m.RecipientID)
	why := ""
	switch {
	case errs.Is(errs.NotFound, err):
		why = "the link no longer exists"
	case err != nil:
		return false, err
	case l.Revoked:
		why = "the link was revoked"
	case l.Purged || !o.now().Before(l.Expires):
		why = "the parcel has expired"
	case l.OwnerDisabled && !o.now().Before(m.GiveUp):
		o.giveUp(ctx, m, errOwnerDisabled)
		return false, nil
	case l.OwnerDisabled:
		o.log.Info("mail held: its parcel's owner is disabled or suspended", "mail", m.ID, "kind", m.Kind, "domain", m.RcptDomain)
		if err := o.db.Q().HoldMail(ctx, m.ID, o.now().Add(o.policy.FirstRetry)); err != nil && !errs.Is(errs.NotFound, err) {
			return false, err
		}
		return false, nil
	default:
		return true, nil
	}
	o.log.Info("mail withdrawn: its link is dead", "mail", m.ID, "kind", m.Kind, "domain", m.RcptDomain, "why", why)
	if err := o.db.Q().DeleteMail(ctx, m.ID); err != nil && !errs.Is(errs.NotFound, err) {
		return false, err
	}
	return false, nil
}

// refused reports whether the mail server refused the recipient for good (a 5xx reply to
// RCPT TO: no such mailbox, a domain it does not accept). Other permanent replies (to
// MAIL FROM, to the message) more likely mean a configuration the administrator will fix,
// so those mails are retried until their time is up.
func refused(err error) bool {
	var se *gomail.SendError
	return errors.As(err, &se) && se.Reason == gomail.ErrSMTPRcptTo && se.ErrorCode()/100 == 5
}

// failed records a failed attempt at m, or gives up on it when its time is up.
func (o *Outbox) failed(ctx context.Context, m db.Mail, cause error) error {
	now := o.now()
	if !now.Before(m.GiveUp) {
		o.giveUp(ctx, m, cause)
		return nil
	}
	wait := o.policy.FirstRetry
	for i := int64(0); i < m.Attempts && wait < o.policy.MaxRetry; i++ {
		wait *= 2
	}
	next := now.Add(min(wait, o.policy.MaxRetry))
	o.log.Warn("cannot send mail; trying again later", "mail", m.ID, "kind", m.Kind, "domain", m.RcptDomain,
		"attempts", m.Attempts+1, "next", next.UTC().Format(time.RFC3339), "err", cause)
	if err := o.db.Q().RetryMail(ctx, m.ID, next, truncate(cause.Error(), 500)); !errs.Is(errs.NotFound, err) {
		return err
	}
	return nil // withdrawn (its link revoked) during the attempt
}

// giveUp drops m for good: it is logged at ERROR and audited.
func (o *Outbox) giveUp(ctx context.Context, m db.Mail, cause error) {
	detail := fmt.Sprintf("%s mail to a recipient at %s not sent after %d attempts since %s: %s", m.Kind, m.RcptDomain,
		m.Attempts+1, m.Created.UTC().Format(time.RFC3339), truncate(cause.Error(), 500))
	o.log.Error("giving up on a mail", "mail", m.ID, "kind", m.Kind, "domain", m.RcptDomain, "attempts", m.Attempts+1,
		"queued", m.Created.UTC().Format(time.RFC3339), "err", cause)
	rec := audit.Record{Actor: "coffer", Protocol: audit.System, Action: audit.ActMailFailed, Path: "/mail/" + m.ID,
		Result: audit.Failed, Detail: detail}
	err := o.db.Tx(ctx, func(q db.Q) error {
		if err := q.DeleteMail(ctx, m.ID); err != nil {
			if errs.Is(errs.NotFound, err) {
				return nil // withdrawn (its link revoked) during the attempt: nothing to give up
			}
			return err
		}
		return o.audit.AppendTx(ctx, q, rec)
	})
	if err != nil {
		o.log.Error("cannot drop the mail given up on; it is tried again", "mail", m.ID, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
