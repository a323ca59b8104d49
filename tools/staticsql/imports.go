package staticsql

import (
	"strconv"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// dbPackage is the one package tree allowed to import sqlImports.
const dbPackage = "github.com/coffer-mft/coffer/internal/db"

// testdataPackages holds the fake drivers and cases this analyzer is tested
// with; they exist to be imported.
const testdataPackages = "github.com/coffer-mft/coffer/tools/staticsql/testdata"

// sqlImports lists import paths, each with all of its subpackages, that hold
// a database handle or execute SQL. database/sql/driver is included on
// purpose: a driver.Valuer outside internal/db is a domain type doubling as
// a database row.
var sqlImports = []string{
	"database/sql",
	"github.com/jackc/pgx", // every major version: github.com/jackc/pgx/v5/...
	"github.com/jackc/pgconn",
	"github.com/lib/pq",
	"modernc.org/sqlite",
	"github.com/ncruces/go-sqlite3",
	"github.com/mattn/go-sqlite3",
	"zombiezen.com/go/sqlite",
	"crawshaw.io/sqlite",
	"github.com/go-sql-driver/mysql",
	"github.com/jmoiron/sqlx",
}

// checkImports implements rule 3: SQL stays in internal/db.
func checkImports(pass *analysis.Pass) {
	pkg := pass.Pkg.Path()
	if within(pkg, dbPackage) || within(pkg, testdataPackages) {
		return
	}
	for _, f := range pass.Files {
		if strings.HasSuffix(pass.Fset.File(f.Pos()).Name(), "_test.go") {
			continue
		}
		for _, spec := range f.Imports {
			path, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				continue // the type checker has already complained
			}
			if isSQLImport(path) {
				pass.Reportf(spec.Path.Pos(), "package %s imports %s: only internal/db may hold SQL", pkg, path)
			}
		}
	}
}

func isSQLImport(path string) bool {
	for _, p := range sqlImports {
		if within(path, p) {
			return true
		}
	}
	return false
}

// within reports whether path is root or one of its subpackages.
func within(path, root string) bool {
	return path == root || strings.HasPrefix(path, root+"/")
}
