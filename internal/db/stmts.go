package db

import (
	"context"
	"database/sql"
	"sync"
)

// stmts caches the prepared statements of one *sql.DB by query text. modernc.org/sqlite
// compiles every query that is not prepared anew, on each call, which was the largest
// share of the server's CPU for small files; database/sql keeps a prepared statement per
// connection once it was made on it. The queries are this package's compile-time
// constants, so the cache is bounded by their number. PostgreSQL does not need it: pgx
// caches the statements of each connection itself.
type stmts struct {
	db *sql.DB
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func newStmts(db *sql.DB) *stmts { return &stmts{db: db, m: map[string]*sql.Stmt{}} }

// get returns the statement of query if it was prepared.
func (c *stmts) get(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[query]
}

// prepare prepares query if it is not yet. A query that fails to prepare is left out:
// it runs unprepared, and fails there with its own error if it is wrong.
func (c *stmts) prepare(ctx context.Context, query string) {
	if c.get(query) != nil {
		return
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return
	}
	c.mu.Lock()
	if c.m[query] == nil {
		c.m[query], st = st, nil
	}
	c.mu.Unlock()
	if st != nil {
		st.Close()
	}
}

func (c *stmts) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		st.Close()
		delete(c.m, q)
	}
}

// preparedDB runs queries outside transactions through c's statements, preparing each
// on its first use.
type preparedDB struct{ c *stmts }

func (p preparedDB) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := p.c.get(query); st != nil {
		return st
	}
	p.c.prepare(ctx, query)
	return p.c.get(query)
}

func (p preparedDB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.c.db.ExecContext(ctx, query, args...)
}

func (p preparedDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.c.db.QueryContext(ctx, query, args...)
}

func (p preparedDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.c.db.QueryRowContext(ctx, query, args...)
}

// preparedTx runs a transaction's queries through c's statements. It cannot prepare a
// missing one on the database meanwhile (SQLite's write pool is the one connection the
// transaction holds), so it runs that unprepared and notes it in missed, for Tx to
// prepare once the transaction ended.
type preparedTx struct {
	tx     *sql.Tx
	c      *stmts
	missed []string
}

func (p *preparedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	if st := p.c.get(query); st != nil {
		return p.tx.StmtContext(ctx, st)
	}
	p.missed = append(p.missed, query)
	return nil
}

func (p *preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.tx.ExecContext(ctx, query, args...)
}

func (p *preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.tx.QueryContext(ctx, query, args...)
}

func (p *preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.tx.QueryRowContext(ctx, query, args...)
}
