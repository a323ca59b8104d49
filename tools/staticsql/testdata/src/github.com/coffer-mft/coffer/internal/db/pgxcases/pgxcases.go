// Package pgxcases holds rule 1 cases against pgx's API.
package pgxcases

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

const qInsertGrant = "INSERT INTO grants (parcel, account) VALUES ($1, $2)"

func calls(ctx context.Context, c *pgx.Conn, tx pgx.Tx, pc *pgconn.PgConn, table, name string) {
	c.Exec(ctx, qInsertGrant, 1, 2)
	c.Exec(ctx, "TRUNCATE "+table)                       // want `the sql argument to \(\*pgx\.Conn\)\.Exec is a concatenation`
	c.Query(ctx, fmt.Sprintf("SELECT * FROM %s", table)) // want `the sql argument to \(\*pgx\.Conn\)\.Query is formatted with fmt\.Sprintf`
	c.QueryRow(ctx, "SELECT 1")
	c.QueryRow(ctx, table) // want `the sql argument to \(\*pgx\.Conn\)\.QueryRow is a parameter not named query`

	// The statement name is no query; only the sql parameter must be constant.
	c.Prepare(ctx, name, qInsertGrant)
	c.Prepare(ctx, name, "SELECT "+table) // want `the sql argument to \(\*pgx\.Conn\)\.Prepare is a concatenation`

	var b pgx.Batch
	b.Queue(qInsertGrant, 1, 2)
	b.Queue(fmt.Sprint("DELETE FROM ", table)) // want `the query argument to \(\*pgx\.Batch\)\.Queue is formatted with fmt\.Sprint`

	tx.Exec(ctx, qInsertGrant, 1, 2)
	tx.Exec(ctx, "DROP TABLE "+table) // want `the sql argument to pgx\.Tx\.Exec is a concatenation`

	pc.Exec(ctx, "SELECT 1; SELECT 2")
	pc.Exec(ctx, table) // want `the sql argument to \(\*pgconn\.PgConn\)\.Exec is a parameter not named query`
}
