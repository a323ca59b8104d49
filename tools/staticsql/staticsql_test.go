package staticsql_test

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/coffer-mft/coffer/tools/staticsql"
)

// TestAnalyzer checks the // want expectations in testdata/src, a GOPATH
// tree holding fake pgx and SQLite packages next to the real database/sql.
func TestAnalyzer(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), staticsql.Analyzer,
		"github.com/coffer-mft/coffer/internal/db/sqlcases",   // rule 1, database/sql
		"github.com/coffer-mft/coffer/internal/db/pgxcases",   // rule 1, pgx
		"github.com/coffer-mft/coffer/internal/db/exceptions", // rule 2
		"github.com/coffer-mft/coffer/internal/db",            // rule 3: allowed
		"github.com/coffer-mft/coffer/internal/db/postgres",   // rule 3: allowed in subpackages
		"github.com/coffer-mft/coffer/internal/dbx",           // rule 3: a prefix is not a subpackage
		"github.com/coffer-mft/coffer/internal/files",         // rule 3, and rule 1 across packages and in tests
		"github.com/coffer-mft/coffer/tools/staticsql/testdata/fake",
	)
}

// TestCommand builds the command CI runs and checks its contract on two
// throwaway modules: silent with exit status 0 when SQL is static and stays
// in internal/db, non-zero with both findings when a query is formatted
// outside it. The run over the real module is CI's job, not this test's: it
// would tie this package's tests to every other package's state.
func TestCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	bin := filepath.Join(t.TempDir(), "staticsql")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/staticsql").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/staticsql: %v\n%s", err, out)
	}

	clean := map[string]string{
		"go.mod": "module github.com/coffer-mft/coffer\n\ngo 1.26\n",
		"internal/db/db.go": `package db

import (
	"context"
	"database/sql"
)

const qParcel = "SELECT name FROM parcels WHERE id = $1"

func Parcel(ctx context.Context, db *sql.DB, id int64) *sql.Row {
	return db.QueryRowContext(ctx, qParcel, id)
}
`,
	}
	t.Run("clean", func(t *testing.T) {
		out, code := runCommand(t, bin, writeModule(t, clean))
		if code != 0 || out != "" {
			t.Errorf("exit status %d, want 0; output:\n%s", code, out)
		}
	})

	t.Run("planted", func(t *testing.T) {
		planted := map[string]string{
			"internal/files/files.go": `package files

import (
	"context"
	"database/sql"
	"fmt"
)

func List(ctx context.Context, db *sql.DB, table string) (*sql.Rows, error) {
	return db.QueryContext(ctx, fmt.Sprintf("SELECT * FROM %s", table))
}
`,
		}
		for name, src := range clean {
			planted[name] = src
		}
		out, code := runCommand(t, bin, writeModule(t, planted))
		if code == 0 {
			t.Errorf("exit status 0, want non-zero; output:\n%s", out)
		}
		for _, want := range []string{
			"files.go:5:2: package github.com/coffer-mft/coffer/internal/files imports database/sql: only internal/db may hold SQL",
			"files.go:10:30: SQL query is not a compile-time constant: the query argument to (*sql.DB).QueryContext is formatted with fmt.Sprintf",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q; output:\n%s", want, out)
			}
		}
	})
}

func writeModule(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// runCommand runs the analyzer over ./... in dir and returns its combined
// output and exit status.
func runCommand(t *testing.T, bin, dir string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, "./...")
	cmd.Dir = dir
	// The module is self-contained: keep the caller's -modfile or
	// workspace, if any, out of it.
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("running %s: %v", bin, err)
	return "", 0
}
