package db

import (
	"context"
	"database/sql"
	"time"
)

// Ban is a row of defender_bans: an address banned until Until, for the Strikes-th time.
type Ban struct {
	IP      string
	Until   time.Time
	Strikes int
	Reason  string
	Created time.Time
}

const (
	qAddDefenderEvent   = `INSERT INTO defender_events (ip, kind, weight, at) VALUES ($1, $2, $3, $4)`
	qDefenderScore      = `SELECT COALESCE(SUM(weight), 0) FROM defender_events WHERE ip = $1 AND at >= $2`
	qClearDefenderIP    = `DELETE FROM defender_events WHERE ip = $1`
	qPruneDefenderEvent = `DELETE FROM defender_events WHERE at < $1`
	banColumns          = `ip, until, strikes, reason, created`
	qBanByIP            = `SELECT ` + banColumns + ` FROM defender_bans WHERE ip = $1`
	qPutBan             = `INSERT INTO defender_bans (ip, until, strikes, reason, created) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (ip) DO UPDATE SET until = excluded.until, strikes = excluded.strikes, reason = excluded.reason, created = excluded.created`
	qDeleteBan          = `DELETE FROM defender_bans WHERE ip = $1`
	qActiveBans         = `SELECT ` + banColumns + ` FROM defender_bans WHERE until > $1 ORDER BY until DESC LIMIT $2`
	qPruneBans          = `DELETE FROM defender_bans WHERE until < $1`
)

// AddDefenderEvent records an event of kind and weight from ip at t.
func (q Q) AddDefenderEvent(ctx context.Context, ip, kind string, weight int, at time.Time) error {
	_, err := q.q.ExecContext(ctx, qAddDefenderEvent, ip, kind, weight, micro(at))
	return q.d.classify(err)
}

// DefenderScore sums the weights of ip's events since t.
func (q Q) DefenderScore(ctx context.Context, ip string, since time.Time) (int64, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qDefenderScore, ip, micro(since)).Scan(&n)
	return n, q.d.classify(err)
}

// ClearDefenderEvents forgets ip's events (after a ban, or when one is lifted).
func (q Q) ClearDefenderEvents(ctx context.Context, ip string) error {
	_, err := q.q.ExecContext(ctx, qClearDefenderIP, ip)
	return q.d.classify(err)
}

// PruneDefender deletes events older than eventsBefore and bans that ended before
// bansBefore (which forgets their strikes).
func (q Q) PruneDefender(ctx context.Context, eventsBefore, bansBefore time.Time) error {
	if _, err := q.q.ExecContext(ctx, qPruneDefenderEvent, micro(eventsBefore)); err != nil {
		return q.d.classify(err)
	}
	_, err := q.q.ExecContext(ctx, qPruneBans, micro(bansBefore))
	return q.d.classify(err)
}

func scanBan(s scanner) (Ban, error) {
	var b Ban
	var until, created, strikes int64
	err := s.Scan(&b.IP, &until, &strikes, &b.Reason, &created)
	b.Until, b.Created, b.Strikes = fromMicro(until), fromMicro(created), int(strikes)
	return b, err
}

// BanByIP returns ip's ban row, current or past; ok is false when there is none.
func (q Q) BanByIP(ctx context.Context, ip string) (b Ban, ok bool, err error) {
	b, err = scanBan(q.q.QueryRowContext(ctx, qBanByIP, ip))
	if err == sql.ErrNoRows {
		return Ban{}, false, nil
	}
	return b, err == nil, q.d.classify(err)
}

// PutBan stores (replaces) ip's ban.
func (q Q) PutBan(ctx context.Context, b Ban) error {
	_, err := q.q.ExecContext(ctx, qPutBan, b.IP, micro(b.Until), b.Strikes, b.Reason, micro(b.Created))
	return q.d.classify(err)
}

// DeleteBan forgets ip's ban and its strikes. Errors: NotFound.
func (q Q) DeleteBan(ctx context.Context, ip string) error { return q.execOne(ctx, qDeleteBan, ip) }

// ActiveBans lists up to limit bans that end after now, the longest first.
func (q Q) ActiveBans(ctx context.Context, now time.Time, limit int) ([]Ban, error) {
	rows, err := q.q.QueryContext(ctx, qActiveBans, micro(now), limit)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []Ban
	for rows.Next() {
		b, err := scanBan(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, b)
	}
	return out, q.d.classify(rows.Err())
}
