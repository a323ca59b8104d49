// Package audit keeps the append-only, hash-chained and keyed audit log specified in
// docs/audit.md. It never holds key material: MACs come from the crypt.Keyring.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Results.
const (
	OK     = "ok"
	Denied = "denied"
	Failed = "error"
)

// Protocols.
const (
	HTTPS  = "https"
	SFTP   = "sftp"
	CLI    = "cli"
	System = "system"
)

// Record is one event to log.
type Record struct {
	At       time.Time // set by Append when zero
	Actor    string
	SourceIP string
	Protocol string
	Action   string
	Path     string
	Target   string
	Bytes    int64
	Result   string
	Detail   string
}

// Keys computes and checks the MACs that seal records: crypt.Keyring satisfies it.
type Keys interface {
	PrimaryID() string
	MAC(id, purpose string, msg []byte) ([]byte, error)
	VerifyMAC(id, purpose string, msg, mac []byte) bool
}

// Log appends to and verifies the audit chain in a database.
type Log struct {
	db   *db.DB
	keys Keys
}

// New returns a Log over d, sealing with keys.
func New(d *db.DB, keys Keys) *Log { return &Log{db: d, keys: keys} }

const (
	purposeRecord = "audit-record"
	purposeHead   = "audit-head"
	domain        = "coffer-audit-v1\n"
)

// Genesis is the hash that record 1 chains to.
func Genesis() []byte {
	h := sha256.Sum256([]byte("coffer-audit-v1 genesis"))
	return h[:]
}

// Init creates the chain's head if the database has none. It is idempotent.
func (l *Log) Init(ctx context.Context) error {
	h, err := l.sealHead(0, Genesis())
	if err != nil {
		return errs.E(errs.Op("audit.Init"), err)
	}
	return l.db.Q().InitAuditHead(ctx, h)
}

func (l *Log) sealHead(seq int64, hash []byte) (db.AuditHead, error) {
	id := l.keys.PrimaryID()
	mac, err := l.keys.MAC(id, purposeHead, headMessage(seq, hash))
	return db.AuditHead{Seq: seq, Hash: hash, KeyID: id, MAC: mac}, err
}

func headMessage(seq int64, hash []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(seq)), hash...)
}

// Append adds r to the log in a transaction of its own.
func (l *Log) Append(ctx context.Context, r Record) error {
	return l.db.Tx(ctx, func(q db.Q) error { return l.AppendTx(ctx, q, r) })
}

// AppendTx adds r to the log inside the caller's transaction q, so that the record
// commits if and only if the action it describes does.
func (l *Log) AppendTx(ctx context.Context, q db.Q, r Record) error {
	const op = errs.Op("audit.Append")
	head, err := q.LockAuditHead(ctx)
	if err != nil {
		return errs.E(op, fmt.Errorf("reading the audit head (was the database initialised?): %w", err))
	}
	if r.At.IsZero() {
		r.At = time.Now()
	}
	rec := stored(r)
	rec.Seq = head.Seq + 1
	rec.PrevHash = head.Hash
	rec.Hash = hashRecord(rec)
	rec.KeyID = l.keys.PrimaryID()
	if rec.MAC, err = l.keys.MAC(rec.KeyID, purposeRecord, rec.Hash); err != nil {
		return errs.E(op, err)
	}
	if err := q.InsertAudit(ctx, rec); err != nil {
		return errs.E(op, err)
	}
	newHead, err := l.sealHead(rec.Seq, rec.Hash)
	if err != nil {
		return errs.E(op, err)
	}
	return q.SetAuditHead(ctx, newHead)
}

// stored converts r to a database row, bounding the free-text fields so that a hostile
// client cannot bloat the log.
func stored(r Record) db.AuditRecord {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	return db.AuditRecord{
		At:       time.UnixMicro(r.At.UnixMicro()).UTC(),
		Actor:    dash(clip(r.Actor, 128)),
		SourceIP: dash(clip(r.SourceIP, 64)),
		Protocol: dash(clip(r.Protocol, 16)),
		Action:   clip(r.Action, 64),
		Path:     clip(r.Path, 4096),
		Target:   clip(r.Target, 4096),
		Bytes:    r.Bytes,
		Result:   clip(r.Result, 16),
		Detail:   clip(r.Detail, 1024),
	}
}

// clip truncates s to at most n bytes without splitting a UTF-8 sequence.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

func hashRecord(r db.AuditRecord) []byte {
	var b bytes.Buffer
	b.Grow(256 + len(r.Path) + len(r.Target) + len(r.Detail))
	b.WriteString(domain)
	b.Write(r.PrevHash)
	num := func(v int64) { b.Write(binary.BigEndian.AppendUint64(nil, uint64(v))) }
	str := func(s string) { num(int64(len(s))); b.WriteString(s) }
	num(r.Seq)
	num(r.At.UnixMicro())
	for _, s := range []string{r.Actor, r.SourceIP, r.Protocol, r.Action, r.Path, r.Target} {
		str(s)
	}
	num(r.Bytes)
	str(r.Result)
	str(r.Detail)
	h := sha256.Sum256(b.Bytes())
	return h[:]
}

// Report is the outcome of Verify.
type Report struct {
	Records int64  // records checked
	HeadSeq int64  // the head's sequence number
	Head    string // the head's hash, hex: note it elsewhere to detect a later rollback
	BadSeq  int64  // the first bad record (0 if none, or if only the head is bad)
	Problem string // what is wrong; empty when the log is intact
}

// OK reports whether the log verified.
func (r Report) OK() bool { return r.Problem == "" }

// Verify checks the whole chain as docs/audit.md describes. The error is for failures to
// read; a tampered log gives a Report with Problem set and a nil error. progress, if not
// nil, is called with the number of records checked so far every so often.
func (l *Log) Verify(ctx context.Context, progress func(n int64)) (Report, error) {
	var rep Report
	q := l.db.Q()
	// The head first: records appended while the log is read come after it, and must
	// only chain and be sealed; read after the records, the head could name one that the
	// reading did not see yet, a false alarm on a busy server.
	head, err := q.AuditHead(ctx)
	if err != nil {
		if errs.Is(errs.NotFound, err) {
			rep.Problem = "the audit head is missing"
			return rep, nil
		}
		return rep, err
	}
	rep.HeadSeq, rep.Head = head.Seq, hex.EncodeToString(head.Hash)
	prev := Genesis()
	atHead := prev // the hash of record head.Seq (the genesis hash for an empty log)
	var last int64
	for {
		batch, err := q.AuditAfter(ctx, last, 5000)
		if err != nil {
			return rep, err
		}
		for _, r := range batch {
			switch {
			case r.Seq != last+1:
				rep.BadSeq, rep.Problem = last+1, fmt.Sprintf("record %d is missing (the next record is %d): records were deleted", last+1, r.Seq)
			case !bytes.Equal(r.PrevHash, prev):
				rep.BadSeq, rep.Problem = r.Seq, fmt.Sprintf("record %d does not chain to record %d: records were removed, inserted or reordered", r.Seq, last)
			case !bytes.Equal(hashRecord(r), r.Hash):
				rep.BadSeq, rep.Problem = r.Seq, fmt.Sprintf("record %d was altered: its contents do not match its hash", r.Seq)
			case !l.keys.VerifyMAC(r.KeyID, purposeRecord, r.Hash, r.MAC):
				rep.BadSeq, rep.Problem = r.Seq, fmt.Sprintf("record %d has an invalid seal (key %q): it was rewritten without the key", r.Seq, r.KeyID)
			}
			if rep.Problem != "" {
				return rep, nil
			}
			prev, last = r.Hash, r.Seq
			if r.Seq == head.Seq {
				atHead = r.Hash
			}
			rep.Records++
		}
		if progress != nil {
			progress(rep.Records)
		}
		if len(batch) == 0 {
			break
		}
	}
	switch {
	case !l.keys.VerifyMAC(head.KeyID, purposeHead, headMessage(head.Seq, head.Hash), head.MAC):
		rep.Problem = "the audit head has an invalid seal: it was changed without the key"
	case last < head.Seq:
		rep.Problem = fmt.Sprintf("the audit head names record %d but the log ends at record %d: records were removed from the end", head.Seq, last)
	case !bytes.Equal(atHead, head.Hash):
		rep.Problem = fmt.Sprintf("record %d is not the one the audit head names: the end of the log was replaced", head.Seq)
	}
	return rep, nil
}

// Exported is the JSON-lines form of a record.
type Exported struct {
	Seq      int64     `json:"seq"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	SourceIP string    `json:"source_ip"`
	Protocol string    `json:"protocol"`
	Action   string    `json:"action"`
	Path     string    `json:"path"`
	Target   string    `json:"target,omitempty"`
	Bytes    int64     `json:"bytes"`
	Result   string    `json:"result"`
	Detail   string    `json:"detail,omitempty"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
	KeyID    string    `json:"key_id"`
}

// Export converts a stored record for output.
func Export(r db.AuditRecord) Exported {
	return Exported{Seq: r.Seq, At: r.At, Actor: r.Actor, SourceIP: r.SourceIP, Protocol: r.Protocol,
		Action: r.Action, Path: r.Path, Target: r.Target, Bytes: r.Bytes, Result: r.Result, Detail: r.Detail,
		PrevHash: hex.EncodeToString(r.PrevHash), Hash: hex.EncodeToString(r.Hash), KeyID: r.KeyID}
}

// ExportJSON writes every record from since on, oldest first, as JSON lines.
func (l *Log) ExportJSON(ctx context.Context, w io.Writer, since time.Time) (int64, error) {
	enc := json.NewEncoder(w)
	var last, n int64
	for {
		batch, err := l.db.Q().AuditAfter(ctx, last, 5000)
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		for _, r := range batch {
			last = r.Seq
			if r.At.Before(since) {
				continue
			}
			if err := enc.Encode(Export(r)); err != nil {
				return n, err
			}
			n++
		}
	}
}
