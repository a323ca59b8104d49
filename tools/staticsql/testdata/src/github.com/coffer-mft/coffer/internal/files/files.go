// Package files must reach SQL only through internal/db.
package files

import (
	"context"
	_ "database/sql/driver" // want `package github.com/coffer-mft/coffer/internal/files imports database/sql/driver: only internal/db may hold SQL`
	"fmt"

	_ "github.com/jackc/pgx/v5"        // want `imports github.com/jackc/pgx/v5: only internal/db`
	_ "github.com/jackc/pgx/v5/pgconn" // want `imports github.com/jackc/pgx/v5/pgconn: only internal/db`
	_ "github.com/ncruces/go-sqlite3"  // want `imports github.com/ncruces/go-sqlite3: only internal/db`
	sqlite "modernc.org/sqlite"        // want `imports modernc.org/sqlite: only internal/db`

	"github.com/coffer-mft/coffer/internal/db"
)

var _ = sqlite.Fake

// Our own wrappers are checked across packages by their parameter names.
func purge(ctx context.Context, s *db.Store, table string) error {
	if err := s.Exec(ctx, "DELETE FROM parcels WHERE expired"); err != nil {
		return err
	}
	return s.Exec(ctx, fmt.Sprintf("DELETE FROM %s", table)) // want `the query argument to \(\*db\.Store\)\.Exec is formatted with fmt\.Sprintf`
}
