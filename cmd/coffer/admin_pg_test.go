package main

import (
	"context"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to tamper with the log as an attacker would

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
)

// TestAdminPostgres runs the command scripts against PostgreSQL (set COFFER_TEST_PG).
func TestAdminPostgres(t *testing.T) {
	t.Parallel()
	newCLI(t, dbtest.PostgresDSN(t)).script(userSteps)
	newCLI(t, dbtest.PostgresDSN(t)).script(groupSteps)
	dsn := dbtest.PostgresDSN(t)
	c := newCLI(t, dsn)
	testTokens(t, c)
	if n := verifyIntact(t, c); n < 5 {
		t.Errorf("audit verify counted %d records, want at least 5", n)
	}
	code, stdout, stderr := c.run("", "audit", "export")
	if code != exitOK {
		t.Fatalf("audit export: exit %d: %s", code, stderr)
	}
	checkJSONLines(t, stdout, verifyIntact(t, c))
	tamper(t, "pgx", dsn)
	checkTampered(t, c)
}

// A DSN that cannot be reached is a configuration error: audit verify cannot check.
func TestAdminBadDSN(t *testing.T) {
	t.Parallel()
	c := &cli{t: t, dir: t.TempDir(), dsn: "postgres://nobody:secret-pw@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", env: map[string]string{}}
	for _, args := range [][]string{a("audit", "verify"), a("user", "list")} {
		code, stdout, stderr := c.run("", args...)
		if code == exitOK || stdout != "" {
			t.Errorf("coffer %v with an unreachable database: exit %d, stdout %q", args, code, stdout)
		}
		checkOneLine(t, "audit verify", stderr)
		if args[0] == "audit" && code != exitUsage {
			t.Errorf("audit verify with an unreachable database: exit %d, want %d", code, exitUsage)
		}
		if !strings.Contains(stderr, "PostgreSQL") || strings.Contains(stderr, "secret-pw") {
			t.Errorf("the message should name PostgreSQL and hide the password: %q", stderr)
		}
	}
}

// An empty PostgreSQL database is set up only by coffer serve: the other commands refuse
// it, and leave it empty, rather than create a Coffer in it with a new key.
func TestAdminPostgresNotSetUp(t *testing.T) {
	t.Parallel()
	dsn := dbtest.PostgresDSN(t)
	c := &cli{t: t, dir: t.TempDir(), dsn: dsn, env: map[string]string{}}
	c.refuses("no Coffer database in postgres ")
	checkEmpty(t, c.dir)
	d, err := db.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if v, err := d.SchemaVersion(context.Background()); err == nil {
		t.Errorf("the refused commands set the database up (schema version %d)", v)
	}
}
