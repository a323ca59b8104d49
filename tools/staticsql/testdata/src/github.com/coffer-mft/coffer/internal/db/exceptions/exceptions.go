// Package exceptions holds rule 2 cases: //coffer:allow-dynamic-sql.
package exceptions

import (
	"context"
	"database/sql"
	"embed"
)

//go:embed *.sql
var migrations embed.FS

func migrate(ctx context.Context, tx *sql.Tx, name string) error {
	body, err := migrations.ReadFile(name)
	if err != nil {
		return err
	}
	//coffer:allow-dynamic-sql migrations are constant .sql files embedded in the binary
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	return nil
}

func sameLine(ctx context.Context, tx *sql.Tx, body []byte) {
	tx.ExecContext(ctx, string(body)) //coffer:allow-dynamic-sql embedded migration, see migrate
}

func noReason(ctx context.Context, tx *sql.Tx, body []byte) {
	// want +2 `SQL query is not a compile-time constant`
	/* want `^//coffer:allow-dynamic-sql needs a reason after it, for reviewers: //coffer:allow-dynamic-sql <why this query cannot be a constant>$` */ //coffer:allow-dynamic-sql
	tx.ExecContext(ctx, string(body))
}

func blankReason(ctx context.Context, tx *sql.Tx, body []byte) {
	tx.ExecContext(ctx, string(body)) /* want `SQL query is not a compile-time constant` `needs a reason` */ //coffer:allow-dynamic-sql
}

func tooFar(ctx context.Context, tx *sql.Tx, body []byte) {
	/* want `excuses no dynamic SQL call` */ //coffer:allow-dynamic-sql covers only the next line

	tx.ExecContext(ctx, string(body)) // want `SQL query is not a compile-time constant`
}

func unused(ctx context.Context, tx *sql.Tx) {
	/* want `^//coffer:allow-dynamic-sql excuses no dynamic SQL call on this line or the next: remove it$` */ //coffer:allow-dynamic-sql left over from a refactoring
	tx.ExecContext(ctx, "SELECT 1")
}

// A trailing exception covers its own line only, not the next one.
func trailing(ctx context.Context, tx *sql.Tx, body []byte) {
	// want +2 `SQL query is not a compile-time constant`
	tx.ExecContext(ctx, "SELECT 1") /* want `excuses no dynamic SQL call` */ //coffer:allow-dynamic-sql not for the line below
	tx.ExecContext(ctx, string(body))
}

// A longer word is not the directive.
func lookalike(ctx context.Context, tx *sql.Tx, body []byte) {
	//coffer:allow-dynamic-sqlite not the directive
	tx.ExecContext(ctx, string(body)) // want `SQL query is not a compile-time constant`
}
