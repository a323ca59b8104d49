package files

import (
	"database/sql" // tests may open a database directly
	"testing"
)

func TestOpen(t *testing.T) {
	var _ *sql.DB
}
