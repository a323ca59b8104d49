package files_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestExternal(t *testing.T) {
	var c *pgx.Conn
	var table string
	// Rule 1 still holds in tests.
	c.Exec(context.Background(), "TRUNCATE "+table) // want `SQL query is not a compile-time constant`
}
