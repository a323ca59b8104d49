package db

import (
	"context"
	"time"
)

// Mail is a message in the mail outbox (docs/notify.md). Header and Body are the
// encrypted message; the outbox's owner (package notify) alone reads them.
type Mail struct {
	ID    string
	Kind  string
	Topic string // "" = none
	// RecipientID is the parcel link whose token the mail carries ("" = none): revoking
	// the link or its parcel withdraws the mail while it waits.
	RecipientID string
	RcptDomain  string
	Header      []byte
	Body        []byte
	Created     time.Time
	GiveUp      time.Time
	NextTry     time.Time
	Attempts    int64
	LastError   string
}

const (
	mailColumns = `id, kind, COALESCE(topic, ''), rcpt_domain, header, body, created, give_up, next_try, attempts, last_error,
		COALESCE(recipient_id, '')`
	// A mail whose topic is waiting already is not queued again (ON CONFLICT with no
	// target: the topic is the only unique column a fresh id can collide on).
	qInsertMail = `INSERT INTO mail_outbox (id, kind, topic, rcpt_domain, header, body, created, give_up, next_try, recipient_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $9) ON CONFLICT DO NOTHING`
	qDueMail = `SELECT ` + mailColumns + ` FROM mail_outbox WHERE next_try <= $1 ORDER BY next_try, id LIMIT $2`
	// Claiming moves next_try on, so that no other node (or a run of the job that lost its
	// lease) sends the same mail while this attempt lasts.
	qClaimMail = `UPDATE mail_outbox SET next_try = $3, attempts = attempts + 1 WHERE id = $1 AND next_try = $2`
	qRetryMail = `UPDATE mail_outbox SET next_try = $2, last_error = $3 WHERE id = $1`
	// Holding takes back the attempt that claiming counted: the mail was not tried.
	qHoldMail         = `UPDATE mail_outbox SET next_try = $2, attempts = attempts - 1 WHERE id = $1`
	qDeleteMail       = `DELETE FROM mail_outbox WHERE id = $1`
	qCountMail        = `SELECT COUNT(*) FROM mail_outbox`
	qWithdrawLinkMail = `DELETE FROM mail_outbox WHERE recipient_id = $1`
	qMailLink         = `SELECT r.revoked, p.revoked, p.purged, p.expires, CASE WHEN u.disabled <> 0 OR u.suspended <> 0 THEN 1 ELSE 0 END FROM parcel_recipients r
		JOIN parcels p ON p.id = r.parcel_id JOIN users u ON u.id = p.owner_id WHERE r.id = $1`
	qWithdrawParcelMail = `DELETE FROM mail_outbox WHERE recipient_id IN (SELECT id FROM parcel_recipients WHERE parcel_id = $1)`
	qUserEmail          = `SELECT email FROM users WHERE id = $1`
	qSetUserEmail       = `UPDATE users SET email = $2, updated = $3 WHERE id = $1`
	qAdminEmails        = `SELECT email FROM users WHERE is_admin <> 0 AND disabled = 0 AND email <> '' ORDER BY name`
)

// InsertMail queues m. It reports false when a mail of the same topic is waiting already
// (then m is dropped).
func (q Q) InsertMail(ctx context.Context, m Mail) (bool, error) {
	res, err := q.q.ExecContext(ctx, qInsertMail, m.ID, m.Kind, nullString(m.Topic), m.RcptDomain, m.Header, m.Body,
		micro(m.Created), micro(m.GiveUp), nullString(m.RecipientID))
	if err != nil {
		return false, q.d.classify(err)
	}
	n, err := res.RowsAffected()
	return n > 0, q.d.classify(err)
}

// DueMail returns up to limit mails due at now, the longest-waiting first.
func (q Q) DueMail(ctx context.Context, now time.Time, limit int) ([]Mail, error) {
	rows, err := q.q.QueryContext(ctx, qDueMail, micro(now), limit)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []Mail
	for rows.Next() {
		var m Mail
		var created, giveUp, next int64
		if err := rows.Scan(&m.ID, &m.Kind, &m.Topic, &m.RcptDomain, &m.Header, &m.Body, &created, &giveUp, &next, &m.Attempts, &m.LastError,
			&m.RecipientID); err != nil {
			return nil, q.d.classify(err)
		}
		m.Created, m.GiveUp, m.NextTry = fromMicro(created), fromMicro(giveUp), fromMicro(next)
		out = append(out, m)
	}
	return out, q.d.classify(rows.Err())
}

// ClaimMail takes mail m for one attempt: it counts the attempt and moves its next try
// to until. Errors: NotFound when another attempt claimed it first (its next try is no
// longer m.NextTry) or it is gone.
func (q Q) ClaimMail(ctx context.Context, m Mail, until time.Time) error {
	return q.execOne(ctx, qClaimMail, m.ID, micro(m.NextTry), micro(until))
}

// RetryMail records a failed attempt at mail id: it is due again at next.
func (q Q) RetryMail(ctx context.Context, id string, next time.Time, lastError string) error {
	return q.execOne(ctx, qRetryMail, id, micro(next), lastError)
}

// HoldMail puts claimed mail id back, due at next, without counting the claim as an
// attempt. Errors: NotFound.
func (q Q) HoldMail(ctx context.Context, id string, next time.Time) error {
	return q.execOne(ctx, qHoldMail, id, micro(next))
}

// DeleteMail removes mail id from the outbox (sent, or given up). Errors: NotFound.
func (q Q) DeleteMail(ctx context.Context, id string) error {
	return q.execOne(ctx, qDeleteMail, id)
}

// WithdrawLinkMail deletes the mails waiting that carry the link of parcel recipient id,
// and returns how many there were. A mail being sent at this moment goes out; its
// attempt then finds no row to delete or retry (NotFound), which the outbox takes for
// withdrawn.
func (q Q) WithdrawLinkMail(ctx context.Context, id string) (int64, error) {
	return q.execCount(ctx, qWithdrawLinkMail, id)
}

// WithdrawParcelMail deletes the mails waiting that carry a link of parcel id, and
// returns how many there were.
func (q Q) WithdrawParcelMail(ctx context.Context, id string) (int64, error) {
	return q.execCount(ctx, qWithdrawParcelMail, id)
}

// MailLink is what the outbox checks of the parcel link a mail carries before sending it.
type MailLink struct {
	Revoked       bool      // the link, or its parcel, was revoked
	Purged        bool      // the parcel's contents were deleted
	Expires       time.Time // the parcel's expiry
	OwnerDisabled bool      // the parcel's owner is disabled, or suspended by a tripwire
}

// MailLinkState returns the state of the link of parcel recipient id. Errors: NotFound.
func (q Q) MailLinkState(ctx context.Context, id string) (MailLink, error) {
	var rRevoked, pRevoked, purged, expires, disabled int64
	err := q.q.QueryRowContext(ctx, qMailLink, id).Scan(&rRevoked, &pRevoked, &purged, &expires, &disabled)
	if err != nil {
		return MailLink{}, q.d.classify(err)
	}
	return MailLink{Revoked: rRevoked != 0 || pRevoked != 0, Purged: purged != 0, Expires: fromMicro(expires), OwnerDisabled: disabled != 0}, nil
}

// CountMail returns how many mails the outbox holds.
func (q Q) CountMail(ctx context.Context) (int64, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qCountMail).Scan(&n)
	return n, q.d.classify(err)
}

// UserEmail returns the address user id gets notifications at ("" = none). Errors: NotFound.
func (q Q) UserEmail(ctx context.Context, id int64) (string, error) {
	var e string
	err := q.q.QueryRowContext(ctx, qUserEmail, id).Scan(&e)
	return e, q.d.classify(err)
}

// AdminEmails returns the notification addresses of the enabled administrators.
func (q Q) AdminEmails(ctx context.Context) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, qAdminEmails)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// SetUserEmail sets the address user id gets notifications at ("" = none). Errors: NotFound.
func (q Q) SetUserEmail(ctx context.Context, id int64, email string) error {
	return q.execOne(ctx, qSetUserEmail, id, email, micro(time.Now()))
}
