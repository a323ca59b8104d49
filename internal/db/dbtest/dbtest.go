// Package dbtest gives tests fresh, migrated databases of every dialect available.
//
// SQLite always runs. PostgreSQL runs when COFFER_TEST_PG holds a DSN of a role that may
// create databases (for example postgres://coffer:coffer@127.0.0.1:5432/postgres); each
// test gets its own database, made and dropped with the createdb and dropdb programs so
// that no SQL text is ever built. With COFFER_TEST_REQUIRE_PG=1 (as in CI) a missing
// COFFER_TEST_PG fails the test instead of skipping PostgreSQL.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
)

// Each runs fn once per available dialect, as parallel-safe subtests named "sqlite" and
// "postgres", each with the DSN of a fresh, empty database.
func Each(t *testing.T, fn func(t *testing.T, dsn string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteDSN(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, PostgresDSN(t)) })
}

// SQLiteDSN returns the path of a new SQLite database in a temporary directory.
func SQLiteDSN(t testing.TB) string {
	return filepath.Join(t.TempDir(), "coffer.db")
}

// PostgresDSN creates a database for this test and returns its DSN; the database is
// dropped when the test ends. It skips (or fails, in CI) when PostgreSQL is not configured.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("COFFER_TEST_PG")
	if base == "" {
		if os.Getenv("COFFER_TEST_REQUIRE_PG") != "" {
			t.Fatal("COFFER_TEST_PG is not set but COFFER_TEST_REQUIRE_PG is: start PostgreSQL and set COFFER_TEST_PG (see .ci/run)")
		}
		t.Skip("PostgreSQL not configured: set COFFER_TEST_PG=postgres://user:pass@127.0.0.1:5432/postgres to run")
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("COFFER_TEST_PG: %v", err)
	}
	var b [6]byte
	rand.Read(b[:])
	name := "coffer_test_" + hex.EncodeToString(b[:])
	run(t, "createdb", "--maintenance-db="+base, name)
	t.Cleanup(func() { run(t, "dropdb", "--force", "--maintenance-db="+base, name) })
	u.Path = "/" + name
	return u.String()
}

func run(t testing.TB, prog string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", prog, err, out)
	}
}

// Open opens and migrates dsn, closing it when the test ends.
func Open(t testing.TB, dsn string) *db.DB {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}
