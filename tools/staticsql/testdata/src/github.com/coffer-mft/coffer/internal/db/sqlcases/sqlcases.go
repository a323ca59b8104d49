// Package sqlcases holds rule 1 cases against the real database/sql.
package sqlcases

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
)

const (
	qSelectParcel = "SELECT id, name FROM parcels WHERE id = $1"
	qParcelsAsc   = "SELECT id, name FROM parcels ORDER BY name ASC"
	qParcelsDesc  = "SELECT id, name FROM parcels ORDER BY name DESC"
)

// Query is a named string type, as a statement catalogue might declare.
type Query string

const qCount Query = "SELECT count(*) FROM parcels"

var qGlobal = "SELECT 1"

type store struct {
	db    *sql.DB
	query string
}

// The test the issue demands: a table name formatted into the query.
func planted(ctx context.Context, db *sql.DB, table string) {
	db.QueryContext(ctx, fmt.Sprintf("SELECT * FROM %s", table)) // want `^SQL query is not a compile-time constant: the query argument to \(\*sql\.DB\)\.QueryContext is formatted with fmt\.Sprintf: fmt\.Sprintf\("SELECT \* FROM %s", table\) \(choose among constant queries instead; see docs/architecture\.md\)$`
}

func rejected(ctx context.Context, db *sql.DB, tx *sql.Tx, conn *sql.Conn, s *store, col string, queries map[string]string, list []string) {
	db.QueryContext(ctx, "SELECT "+col+" FROM parcels") // want `concatenation with a non-constant operand: "SELECT " \+ col \+ " FROM parcels"`
	db.ExecContext(ctx, s.query)                        // want `the query argument to \(\*sql\.DB\)\.ExecContext is a struct field: s\.query`
	q := qSelectParcel
	db.QueryRowContext(ctx, q, 1) // want `is a local variable: q`
	db.Query(queries["parcel"])   // want `is a map lookup`
	db.Exec(list[0])              // want `is an index expression`
	db.Prepare(build())           // want `the query argument to \(\*sql\.DB\)\.Prepare is the result of a call: build\(\)`
	var b strings.Builder
	b.WriteString("SELECT 1")
	tx.ExecContext(ctx, b.String())                                 // want `\(\*sql\.Tx\)\.ExecContext is the result of a call: b\.String\(\)`
	conn.PrepareContext(ctx, qGlobal)                               // want `is a package-level variable: qGlobal`
	tx.QueryRow(col)                                                // want `is a parameter not named query or sql`
	db.Exec(string(Query(col)))                                     // want `is a conversion of a non-constant value`
	tx.Stmt(nil).Exec(col)                                          // not a query parameter: Stmt.Exec takes args only
	db.ExecContext(ctx, fmt.Sprint("DELETE FROM ", col), 1)         // want `formatted with fmt\.Sprint`
	db.ExecContext(ctx, strings.Join([]string{"SELECT", col}, " ")) // want `the result of a call`
	db.QueryContext(ctx, (fmt.Sprintf("SELECT %s", col)))           // want `formatted with fmt\.Sprintf`
}

func build() string { return "SELECT 1" }

// Calls not written as obj.Method(...) are checked all the same.
func indirect(ctx context.Context, db *sql.DB, col string) {
	(*sql.DB).QueryContext(db, ctx, "SELECT "+col) // want `concatenation`
	f := db.ExecContext
	f(ctx, "SELECT "+col) // want `the query argument to f is a concatenation`
	var run func(ctx context.Context, sql string) error
	run(ctx, col) // want `the sql argument to run is a parameter not named query or sql`
}

func accepted(ctx context.Context, db *sql.DB, tx *sql.Tx, desc bool, id int64) {
	db.QueryRowContext(ctx, qSelectParcel, id)
	db.QueryContext(ctx, qSelectParcel+" LIMIT 1", id)
	db.QueryContext(ctx, "SELECT 1")
	db.QueryContext(ctx, (qSelectParcel))
	db.ExecContext(ctx, string(qCount))
	tx.Exec(`DELETE FROM parcels WHERE id = ?`, id)
	// Choosing among constants is the way to vary ORDER BY.
	if desc {
		db.QueryContext(ctx, qParcelsDesc)
	} else {
		db.QueryContext(ctx, qParcelsAsc)
	}
	// url.ParseQuery names its parameter query, but it is no SQL.
	url.ParseQuery(fmt.Sprintf("a=%d", id))
	// Conversions and builtins are not calls with parameters.
	_ = Query(fmt.Sprint(id))
	_ = len(fmt.Sprint(id))
}

// A thin wrapper passes its own query parameter through; its callers are
// checked because the parameter is named query.
func (s *store) exec(ctx context.Context, query string, args ...any) error {
	_, err := s.db.ExecContext(ctx, query, args...)
	return err
}

func (s *store) inTx(ctx context.Context, SQL string, args ...any) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return func() error {
		_, err := tx.ExecContext(ctx, SQL, args...) // a parameter of an enclosing function
		return err
	}()
}

func wrapperCallers(ctx context.Context, s *store, table string) {
	s.exec(ctx, qSelectParcel, 1)
	s.inTx(ctx, "DELETE FROM parcels")
	s.exec(ctx, fmt.Sprintf("DELETE FROM %s", table)) // want `the query argument to \(\*store\)\.exec is formatted with fmt\.Sprintf`
	s.inTx(ctx, "DELETE FROM "+table)                 // want `the SQL argument to \(\*store\)\.inTx is a concatenation`
	fn := s.exec
	fn(ctx, table) // want `the query argument to fn is a parameter not named query`
}

// A query parameter that is rebuilt is no longer passed through.
func (s *store) reassigned(ctx context.Context, query, order string) {
	query += " ORDER BY " + order
	s.db.ExecContext(ctx, query) // want `a query parameter that is reassigned`
}

func (s *store) addressTaken(ctx context.Context, query string) {
	mutate(&query)
	s.db.ExecContext(ctx, query) // want `a query parameter that is reassigned or has its address taken`
}

func (s *store) redeclared(ctx context.Context, query string) error {
	query, err := rewrite(query)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, query) // want `a query parameter that is reassigned`
	return err
}

func mutate(*string) {}

func rewrite(q string) (string, error) { return q, nil }

// A query variadic parameter has each of its arguments checked.
func execAll(ctx context.Context, db *sql.DB, query ...string) {
	for _, q := range query {
		db.ExecContext(ctx, q) // want `is a local variable: q`
	}
}

func variadicCallers(ctx context.Context, db *sql.DB, col string, qs []string) {
	execAll(ctx, db, qSelectParcel, "SELECT 2")
	execAll(ctx, db, qSelectParcel, "SELECT "+col) // want `the query argument to execAll is a concatenation`
	execAll(ctx, db, qs...)                        // want `the query argument to execAll is a parameter not named query`
}

func pair() (string, any) { return "SELECT 1", nil }

func tuple(db *sql.DB) {
	db.Exec(pair()) // want `is one of several results of a call: pair\(\)`
}

// Interfaces of our own are checked through their parameter names.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func viaInterface(ctx context.Context, e execer, col string) {
	e.ExecContext(ctx, "SELECT 1")
	e.ExecContext(ctx, col) // want `the query argument to execer\.ExecContext is a parameter not named query`
}

// Generic callees keep their parameter names.
func one[T any](ctx context.Context, db *sql.DB, query string) (T, error) {
	var zero T
	return zero, db.QueryRowContext(ctx, query).Scan(&zero)
}

func genericCallers(ctx context.Context, db *sql.DB, col string) {
	one[int](ctx, db, qSelectParcel)
	one[int](ctx, db, "SELECT "+col) // want `the query argument to one is a concatenation`
}
