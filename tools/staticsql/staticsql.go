// Package staticsql enforces Coffer's first rule, "Static SQL only", as a
// go/analysis pass. CI runs it over the whole module:
//
//	go run ./tools/staticsql/cmd/staticsql ./...
//
// and the build fails on any finding.
//
// # Why
//
// Coffer holds other people's files. An SQL injection in a file-transfer
// server hands out every parcel, grant and key it stores, so we do not rely
// on each author remembering to escape a table name or an ORDER BY column:
// every query is a compile-time constant, parameters travel as placeholders,
// and a reviewer can read the complete set of statements the binary may ever
// send. Choosing among constant queries (a switch over a fixed set of ORDER
// BY variants, say) is always possible; building one is not allowed.
//
// # Rule 1: constant queries
//
// For every call whose callee (function, method, interface method, method
// value, method expression, or func-typed value) has a string-typed parameter
// named query or sql (any case), the argument for that parameter must be
//
//   - a constant expression, such as a string literal, a named constant, or a
//     concatenation of constants (qSelectParcel + " LIMIT 1"); or
//   - an identifier naming a parameter called query or sql of an enclosing
//     function, which is never assigned to and never has its address taken.
//
// Parameter names are how database/sql (DB.QueryContext(ctx, query string,
// args ...any), Tx.Exec, Conn.PrepareContext, ...) and pgx (Conn.Exec(ctx,
// sql string, ...), Batch.Queue(query string, ...), Prepare(ctx, name, sql
// string)) mark the SQL, and types.Signature keeps them for callees in any
// package, ours included. The second form lets a thin wrapper such as
// func (s *Store) exec(ctx context.Context, query string, args ...any) pass
// its query through: the wrapper's own callers are then held to this rule
// because its parameter is named query too. A query parameter that is
// reassigned inside the wrapper is no longer a pass-through and is reported.
//
// Everything else is reported: fmt.Sprintf, concatenation with a variable, a
// struct field, a map lookup, a local or package variable, a function result,
// a strings.Builder. net/url.ParseQuery, whose parameter is named query but
// holds a URL query string, is the one callee exempted by name.
//
// # Rule 2: an explicit, reviewable exception
//
// A call is accepted despite rule 1 when the comment
//
//	//coffer:allow-dynamic-sql <reason>
//
// stands alone on the line just above the line where the call starts, or
// ends that line. The reason is mandatory: it is what a reviewer reads, so
// an exception without one is reported and excuses nothing. An exception
// that excuses nothing is reported as well, so stale exceptions cannot
// linger and silently cover code written later. The migration runner needs
// it once, to execute the numbered .sql files embedded in the binary.
//
// # Rule 3: SQL stays in one package
//
// Importing database/sql, a database driver or a SQL library (see
// sqlImports) is reported everywhere except in
// github.com/coffer-mft/coffer/internal/db and its subpackages, in _test.go
// files, and in this analyzer's own testdata. Rule 1 alone cannot see a
// query that leaves the package as an interface{} or through a func type
// without parameter names; keeping every database handle inside internal/db
// keeps every query where reviewers, and this pass, expect it. It also keeps
// one struct from serving as database row, API body and domain object.
package staticsql

import (
	"golang.org/x/tools/go/analysis"
)

// Analyzer reports SQL that is not a compile-time constant, malformed or
// unused //coffer:allow-dynamic-sql exceptions, and SQL imports outside
// internal/db. See the package documentation for the rules and their reasons.
var Analyzer = &analysis.Analyzer{
	Name: "staticsql",
	Doc:  "report SQL queries that are not compile-time constants and SQL imports outside internal/db",
	Run:  run,
}

func run(pass *analysis.Pass) (any, error) {
	checkImports(pass)
	checkQueries(pass)
	return nil, nil
}
