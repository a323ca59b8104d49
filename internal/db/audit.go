package db

import (
	"context"
	"time"
)

// AuditRecord is one stored audit-log record; package audit defines its hashing.
type AuditRecord struct {
	Seq      int64
	At       time.Time
	Actor    string
	SourceIP string
	Protocol string
	Action   string
	Path     string
	Target   string
	Bytes    int64
	Result   string
	Detail   string
	PrevHash []byte
	Hash     []byte
	KeyID    string
	MAC      []byte
}

// AuditHead is the sealed head of the chain.
type AuditHead struct {
	Seq   int64
	Hash  []byte
	KeyID string
	MAC   []byte
}

// AuditFilter selects records for AuditQuery; zero fields match everything.
type AuditFilter struct {
	Actor     string
	Action    string
	PathPart  string // substring of path
	Since     time.Time
	Until     time.Time
	BeforeSeq int64 // only records with seq below this (0 = no bound): the cursor of AuditQuery
	AfterSeq  int64 // only records with seq above this: the cursor of AuditQueryOldestFirst
}

const auditColumns = `seq, at, actor, source_ip, protocol, action, path, target, bytes, result, detail, prev_hash, hash, key_id, mac`

const (
	// The UPDATE locks the head row (PostgreSQL) or runs under the write lock (SQLite),
	// so appenders are serialised until their transaction ends.
	qLockAuditHead = `UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash, key_id, mac`
	qInitAuditHead = `INSERT INTO audit_head (id, seq, hash, key_id, mac) VALUES (1, $1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`
	qSetAuditHead  = `UPDATE audit_head SET seq = $1, hash = $2, key_id = $3, mac = $4 WHERE id = 1`
	qReadAuditHead = `SELECT seq, hash, key_id, mac FROM audit_head WHERE id = 1`
	qInsertAudit   = `INSERT INTO audit_log (` + auditColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`
	qAuditAfter    = `SELECT ` + auditColumns + ` FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`
	qAuditQuery    = `SELECT ` + auditColumns + ` FROM audit_log WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action = $2) AND ($3 = '' OR path LIKE '%' || $3 || '%') AND at >= $4 AND at <= $5 AND seq < $6 ORDER BY seq DESC LIMIT $7`
	qAuditQueryAsc = `SELECT ` + auditColumns + ` FROM audit_log WHERE ($1 = '' OR actor = $1) AND ($2 = '' OR action = $2) AND ($3 = '' OR path LIKE '%' || $3 || '%') AND at >= $4 AND at <= $5 AND seq > $6 ORDER BY seq LIMIT $7`
)

// LockAuditHead returns the chain head, locking it for the rest of the transaction.
// Errors: NotFound when the chain has not been initialised.
func (q Q) LockAuditHead(ctx context.Context) (AuditHead, error) {
	var h AuditHead
	err := q.q.QueryRowContext(ctx, qLockAuditHead).Scan(&h.Seq, &h.Hash, &h.KeyID, &h.MAC)
	return h, q.d.classify(err)
}

// AuditHead returns the chain head without locking. Errors: NotFound.
func (q Q) AuditHead(ctx context.Context) (AuditHead, error) {
	var h AuditHead
	err := q.q.QueryRowContext(ctx, qReadAuditHead).Scan(&h.Seq, &h.Hash, &h.KeyID, &h.MAC)
	return h, q.d.classify(err)
}

// InitAuditHead creates the head row if it does not exist yet.
func (q Q) InitAuditHead(ctx context.Context, h AuditHead) error {
	_, err := q.q.ExecContext(ctx, qInitAuditHead, h.Seq, h.Hash, h.KeyID, h.MAC)
	return q.d.classify(err)
}

// SetAuditHead moves the head. Call it only after LockAuditHead in the same transaction.
func (q Q) SetAuditHead(ctx context.Context, h AuditHead) error {
	return q.execOne(ctx, qSetAuditHead, h.Seq, h.Hash, h.KeyID, h.MAC)
}

// InsertAudit appends one record. Errors: Exist (sequence taken).
func (q Q) InsertAudit(ctx context.Context, r AuditRecord) error {
	_, err := q.q.ExecContext(ctx, qInsertAudit, r.Seq, micro(r.At), r.Actor, r.SourceIP, r.Protocol, r.Action,
		r.Path, r.Target, r.Bytes, r.Result, r.Detail, r.PrevHash, r.Hash, r.KeyID, r.MAC)
	return q.d.classify(err)
}

func (q Q) auditRecords(ctx context.Context, query string, args ...any) ([]AuditRecord, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []AuditRecord
	for rows.Next() {
		var r AuditRecord
		var at int64
		if err := rows.Scan(&r.Seq, &at, &r.Actor, &r.SourceIP, &r.Protocol, &r.Action, &r.Path, &r.Target,
			&r.Bytes, &r.Result, &r.Detail, &r.PrevHash, &r.Hash, &r.KeyID, &r.MAC); err != nil {
			return nil, q.d.classify(err)
		}
		r.At = fromMicro(at)
		out = append(out, r)
	}
	return out, q.d.classify(rows.Err())
}

// AuditAfter returns up to limit records with seq above after, in order.
func (q Q) AuditAfter(ctx context.Context, after int64, limit int) ([]AuditRecord, error) {
	return q.auditRecords(ctx, qAuditAfter, after, limit)
}

// AuditQuery returns up to limit records matching f, newest first.
func (q Q) AuditQuery(ctx context.Context, f AuditFilter, limit int) ([]AuditRecord, error) {
	until := micro(f.Until)
	if until == 0 {
		until = 1<<63 - 1
	}
	before := f.BeforeSeq
	if before <= 0 {
		before = 1<<63 - 1
	}
	return q.auditRecords(ctx, qAuditQuery, f.Actor, f.Action, f.PathPart, micro(f.Since), until, before, limit)
}

// AuditQueryOldestFirst returns up to limit records matching f with seq above
// f.AfterSeq, oldest first (f.BeforeSeq is ignored): for exports.
func (q Q) AuditQueryOldestFirst(ctx context.Context, f AuditFilter, limit int) ([]AuditRecord, error) {
	until := micro(f.Until)
	if until == 0 {
		until = 1<<63 - 1
	}
	return q.auditRecords(ctx, qAuditQueryAsc, f.Actor, f.Action, f.PathPart, micro(f.Since), until, f.AfterSeq, limit)
}
