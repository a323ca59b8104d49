// Package postgres is a subpackage of internal/db: it may import pgx.
package postgres

import (
	_ "github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/pgconn"
	_ "github.com/ncruces/go-sqlite3"
)
