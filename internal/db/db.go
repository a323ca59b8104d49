// Package db is the only package that holds SQL. Every query is a compile-time constant
// with placeholders ($1, $2... which both SQLite and PostgreSQL accept); where the two
// dialects differ, the code chooses between two constants. tools/staticsql enforces this.
//
// Times are stored as Unix microseconds and flags as 0/1 integers so that one query text
// serves both dialects.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/coffer-mft/coffer/internal/errs"
)

// Dialect names the SQL engine behind a DB.
type Dialect string

const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open metadata database.
type DB struct {
	dialect Dialect
	read    *sql.DB // reads outside transactions
	write   *sql.DB // transactions; for SQLite a single connection, so writers queue in Go
	where   string  // a description for messages, never with a password

	// SQLite only: prepared statements of read and write, by query (see stmts).
	readStmts, writeStmts *stmts
}

//go:embed migrations
var migrations embed.FS

// IsPostgres reports whether dsn selects PostgreSQL.
func IsPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Open connects to dsn: "postgres://..." (or "postgresql://...") selects PostgreSQL;
// anything else is the path of a SQLite database file, created if missing. It checks the
// connection but does not migrate; call Migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	const op = errs.Op("db.Open")
	if IsPostgres(dsn) {
		where := redact(dsn)
		pool, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, errs.E(op, errs.Invalid, fmt.Errorf("bad PostgreSQL DSN %s: %w", where, err))
		}
		pool.SetMaxOpenConns(32)
		pool.SetMaxIdleConns(16)
		pool.SetConnMaxIdleTime(5 * time.Minute)
		d := &DB{dialect: Postgres, read: pool, write: pool, where: where}
		if err := d.ping(ctx); err != nil {
			pool.Close()
			return nil, errs.E(op, errs.Unavailable, fmt.Errorf("cannot connect to PostgreSQL at %s: %w (check that the server runs and the DSN's host, user and password are right)", where, err))
		}
		return d, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if path == "" {
		return nil, errs.E(op, errs.Invalid, "empty database path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, errs.E(op, fmt.Errorf("cannot create database directory: %w", err))
		}
	}
	// synchronous(FULL): a commit is on disk before it returns (nothing acknowledged is lost).
	// _txlock=immediate: a transaction takes the write lock at BEGIN, so two writers
	// never deadlock upgrading a read lock.
	u := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(15000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(FULL)&_txlock=immediate"
	read, err := sql.Open("sqlite", u)
	if err != nil {
		return nil, errs.E(op, err)
	}
	read.SetMaxOpenConns(8)
	write, err := sql.Open("sqlite", u)
	if err != nil {
		read.Close()
		return nil, errs.E(op, err)
	}
	write.SetMaxOpenConns(1)
	d := &DB{dialect: SQLite, read: read, write: write, where: path, readStmts: newStmts(read), writeStmts: newStmts(write)}
	if err := d.pingSQLite(ctx); err != nil {
		d.Close()
		return nil, errs.E(op, errs.Unavailable, fmt.Errorf("cannot open SQLite database %s: %w (check that the directory exists and is writable by this user)", path, err))
	}
	return d, nil
}

func (d *DB) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.write.PingContext(ctx); err != nil {
		return err
	}
	// PingContext alone does not touch the SQLite file; a read does.
	var n int
	return d.write.QueryRowContext(ctx, "SELECT 1").Scan(&n)
}

// Ready reports whether the database answers a query (on the pool that readers use, so
// that a long write does not hold it up), within ctx's deadline. Errors: Unavailable.
func (d *DB) Ready(ctx context.Context) error {
	var n int
	if err := d.read.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil {
		return errs.E(errs.Op("db.Ready"), errs.Unavailable, err)
	}
	return nil
}

// pingSQLite is ping that waits out SQLITE_BUSY. A new connection's pragmas (switching
// to WAL in particular) can meet the lock of another process opening the same file, and
// SQLite then fails without consulting busy_timeout; a second try a moment later succeeds.
func (d *DB) pingSQLite(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	wait := 5 * time.Millisecond
	for {
		err := d.ping(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// redact removes the password from a PostgreSQL URL for messages and logs.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparseable DSN)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	return u.String()
}

// Dialect reports which engine d uses.
func (d *DB) Dialect() Dialect { return d.dialect }

// String describes the database for messages: a file path or a DSN without password.
func (d *DB) String() string { return string(d.dialect) + " " + d.where }

// Close closes all connections.
func (d *DB) Close() error {
	d.readStmts.close()
	d.writeStmts.close()
	err := d.read.Close()
	if d.write != d.read {
		err = errors.Join(err, d.write.Close())
	}
	return err
}

// Migrate applies, in order and each in its own transaction, every numbered migration
// file of d's dialect not yet applied. Concurrent starts of several nodes are safe: the
// migration transaction holds a lock (SQLite: the write lock; PostgreSQL: an advisory lock).
func (d *DB) Migrate(ctx context.Context) error {
	const op = errs.Op("db.Migrate")
	dir := "migrations/" + string(d.dialect)
	names, err := fs.Glob(migrations, dir+"/*.sql")
	if err != nil {
		return errs.E(op, err)
	}
	sort.Strings(names)
	// Two nodes starting at once would race on CREATE TABLE IF NOT EXISTS in PostgreSQL,
	// so it runs under the same lock as the migrations themselves.
	err = d.Tx(ctx, func(q Q) error {
		if err := q.lockMigrations(ctx); err != nil {
			return err
		}
		_, err := q.q.ExecContext(ctx, qCreateMigrations)
		return err
	})
	if err != nil {
		return errs.E(op, err)
	}
	var last int64
	for _, name := range names {
		// The version is the file's number. Numbers must rise but may skip one: branches
		// developed side by side reserve numbers, and each version is applied by itself
		// (below), so one that arrives later than a higher one is still applied.
		version, err := migrationVersion(filepath.Base(name))
		if err != nil {
			return errs.E(op, err)
		}
		if version <= last {
			return errs.E(op, fmt.Errorf("migration %s repeats version %d", name, version))
		}
		last = version
		body, err := migrations.ReadFile(name)
		if err != nil {
			return errs.E(op, err)
		}
		err = d.Tx(ctx, func(q Q) error {
			if err := q.lockMigrations(ctx); err != nil {
				return err
			}
			var n int
			if err := q.q.QueryRowContext(ctx, qMigrationApplied, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			// The one place where SQL text is not a constant in this file: it is a
			// numbered migration compiled into the binary with go:embed, never data.
			//coffer:allow-dynamic-sql migration files embedded from internal/db/migrations
			if _, err := q.unprepared().ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
			_, err := q.q.ExecContext(ctx, qMigrationRecord, version, micro(time.Now()))
			return err
		})
		if err != nil {
			return errs.E(op, err)
		}
	}
	return nil
}

// migrationVersion reads the version of a migration file named NNNN_what.sql.
func migrationVersion(name string) (int64, error) {
	digits, _, ok := strings.Cut(name, "_")
	v, err := strconv.ParseInt(digits, 10, 64)
	if !ok || len(digits) != 4 || err != nil || v < 1 {
		return 0, fmt.Errorf("migration %s is not named NNNN_description.sql", name)
	}
	return v, nil
}

// SchemaVersion reports the newest applied migration.
func (d *DB) SchemaVersion(ctx context.Context) (int64, error) {
	var v sql.NullInt64
	err := d.read.QueryRowContext(ctx, qSchemaVersion).Scan(&v)
	return v.Int64, d.classify(err)
}

const (
	qCreateMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)`
	qMigrationApplied = `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`
	qMigrationRecord  = `INSERT INTO schema_migrations (version, applied) VALUES ($1, $2)`
	qMigrationLockPG  = `SELECT pg_advisory_xact_lock(7238411)`
	qSchemaVersion    = `SELECT MAX(version) FROM schema_migrations`
)

// lockMigrations serialises migrating nodes until the transaction ends. In SQLite the
// transaction's write lock already does.
func (q Q) lockMigrations(ctx context.Context) error {
	if q.d.dialect != Postgres {
		return nil
	}
	_, err := q.q.ExecContext(ctx, qMigrationLockPG)
	return err
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Q runs queries, either directly on the database or inside a transaction. Its methods,
// grouped by aggregate in this package's other files, are the whole of Coffer's SQL.
type Q struct {
	q querier
	d *DB
}

// Q returns a Q that runs each query on its own (no transaction). Use it for reads.
func (d *DB) Q() Q {
	if d.readStmts != nil {
		return Q{q: preparedDB{d.readStmts}, d: d}
	}
	return Q{q: d.read, d: d}
}

// Tx runs fn in a transaction, committing when fn returns nil and rolling back otherwise.
// The commit is on disk when Tx returns.
func (d *DB) Tx(ctx context.Context, fn func(Q) error) error {
	missed, err := d.run(ctx, d.write, fn)
	d.prepareMissed(ctx, missed)
	return d.classify(err)
}

const (
	qSyncLazy   = `PRAGMA synchronous = NORMAL`
	qSyncFull   = `PRAGMA synchronous = FULL`
	qAsyncLocal = `SET LOCAL synchronous_commit = off`
)

// TxLazy is Tx for writes whose loss in a power failure or an operating-system crash
// does no harm, such as the tripwires' download counters: it does not wait for the
// commit to reach the disk. The commit is visible to every reader when TxLazy returns
// and survives the process crashing; the next durable commit (Tx) takes it to disk with
// its own. (SQLite: synchronous=NORMAL for this transaction, on the one write
// connection; PostgreSQL: synchronous_commit=off, which its WAL writer flushes within
// a fraction of a second.) Never use it for anything acknowledged to a client or for
// the audit log.
func (d *DB) TxLazy(ctx context.Context, fn func(Q) error) error {
	if d.dialect == Postgres {
		return d.Tx(ctx, func(q Q) error {
			if _, err := q.q.ExecContext(ctx, qAsyncLocal); err != nil {
				return err
			}
			return fn(q)
		})
	}
	conn, err := d.write.Conn(ctx)
	if err != nil {
		return d.classify(err)
	}
	// Both pragmas run whatever ctx does: SQLite applies a pragma when it prepares it,
	// and modernc reports a context that ended meanwhile as the statement's failure, so
	// a canceled NORMAL could take effect unnoticed, and a canceled FULL not at all.
	var missed []string
	_, err = conn.ExecContext(context.WithoutCancel(ctx), qSyncLazy)
	if err == nil {
		missed, err = d.run(ctx, conn, fn)
	}
	if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), qSyncFull); rerr != nil {
		// Every later commit on a connection left at NORMAL would be lazy: drop it
		// (database/sql closes a connection whose use returns ErrBadConn).
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		err = errors.Join(err, fmt.Errorf("cannot make the write connection durable again: %w", rerr))
	}
	conn.Close()
	d.prepareMissed(ctx, missed)
	return d.classify(err)
}

// run runs fn in a transaction begun on b (the write pool or a connection of it) and
// commits it if fn returns nil. It returns the queries a SQLite transaction ran
// unprepared, to prepare once the connection is free.
func (d *DB) run(ctx context.Context, b interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, fn func(Q) error) ([]string, error) {
	tx, err := b.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	var q querier = tx
	var ptx *preparedTx
	if d.writeStmts != nil {
		ptx = &preparedTx{tx: tx, c: d.writeStmts}
		q = ptx
	}
	err = fn(Q{q: q, d: d})
	if err != nil {
		_ = tx.Rollback()
	} else {
		err = tx.Commit()
	}
	if ptx == nil {
		return nil, err
	}
	return ptx.missed, err
}

// prepareMissed prepares the queries a transaction ran unprepared, now that the
// transaction's connection is free again.
func (d *DB) prepareMissed(ctx context.Context, missed []string) {
	for _, query := range missed {
		//coffer:allow-dynamic-sql each is the query argument of a call on the transaction, which this rule held to a constant there
		d.writeStmts.prepare(context.WithoutCancel(ctx), query)
	}
}

// unprepared returns q's own querier, which does not prepare statements: for SQL text
// that runs once (migrations).
func (q Q) unprepared() querier {
	switch p := q.q.(type) {
	case preparedDB:
		return p.c.db
	case *preparedTx:
		return p.tx
	}
	return q.q
}

// classify turns driver errors into *errs.Error with a useful Kind; other errors pass.
func (d *DB) classify(err error) error {
	if err == nil {
		return nil
	}
	var e *errs.Error
	if errors.As(err, &e) {
		return err
	}
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errs.E(errs.NotFound, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errs.E(errs.Canceled, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return errs.E(errs.Exist, err)
		case sqlite3.SQLITE_FULL:
			return errs.E(errs.NoSpace, fmt.Errorf("database %s: disk full: %w", d.where, err))
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return errs.E(errs.Unavailable, err)
		}
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505":
			return errs.E(errs.Exist, err)
		case pe.Code == "53100":
			return errs.E(errs.NoSpace, err)
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"):
			return errs.E(errs.Unavailable, err)
		}
		return err
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return errs.E(errs.Unavailable, err)
	}
	return err
}

func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

var notFound = errs.E(errs.NotFound, "no such record")
