// Package pgconn is a fake of github.com/jackc/pgx/v5/pgconn.
package pgconn

import "context"

type CommandTag struct{}

type StatementDescription struct{}

type PgConn struct{}

type MultiResultReader struct{}

// Exec runs one or more statements with the simple protocol.
func (c *PgConn) Exec(ctx context.Context, sql string) *MultiResultReader { return nil }
