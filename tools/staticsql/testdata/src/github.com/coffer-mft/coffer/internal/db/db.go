// Package db may import database/sql and drivers: SQL lives here.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"

	_ "modernc.org/sqlite"
)

// Store wraps a database; Exec passes its query parameter through, so its
// callers, in any package, are held to constant queries.
type Store struct{ db *sql.DB }

func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.db.ExecContext(ctx, query, args...)
	return err
}

var _ driver.Valuer
