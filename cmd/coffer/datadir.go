package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// checkSetUp refuses a configuration on which server.Open would set a new Coffer up: a
// new SQLite database, a new schema in an empty PostgreSQL database, or a new
// key-encryption key. Only coffer serve may do that. The other commands work on what the
// server set up: a forgotten or mistyped --data must not quietly make a second, empty
// Coffer with a key of its own, which the running server never sees.
//
// The test is what Open would create, not where the data directory is: with --db
// postgres://... and --blobs s3://... the data directory may well not exist, and with
// COFFER_KEK no key file is read.
func checkSetUp(ctx context.Context, cfg config.Config, getenv func(string) string) error {
	if err := checkDatabase(ctx, cfg); err != nil {
		return err
	}
	if getenv("COFFER_KEK") != "" {
		return nil
	}
	path := cfg.KEKPath()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or unreadable: Open says which
	}
	if cfg.KEKFile != "" {
		return errs.E(errs.Invalid, fmt.Errorf("no key-encryption key file at %s: give the server's key with --kek-file FILE (or COFFER_KEK_FILE, or the key itself in COFFER_KEK); restore it from your backup if it was lost", shown(path)))
	}
	return errs.E(errs.Invalid, fmt.Errorf("no key-encryption key in the Coffer data folder %s (no %s there): give the server's key with --kek-file FILE (or COFFER_KEK_FILE, or the key itself in COFFER_KEK); restore it from your backup if it was lost", shown(cfg.DataDir), filepath.Base(path)))
}

// checkDatabase refuses a database that Open would create (SQLite) or set up (PostgreSQL).
func checkDatabase(ctx context.Context, cfg config.Config) error {
	dsn := cfg.DBDSN()
	if db.IsPostgres(dsn) {
		d, err := db.Open(ctx, dsn)
		if err != nil {
			return err
		}
		defer d.Close()
		// The migrations table is the first thing Open creates in an empty database.
		v, err := d.SchemaVersion(ctx)
		if errs.Is(errs.Unavailable, err) || errs.Is(errs.Canceled, err) {
			return err
		}
		if err != nil || v == 0 {
			reason := "it holds no Coffer tables"
			if err != nil {
				reason = fmt.Sprintf("%s (%v)", reason, err)
			}
			return errs.E(errs.Invalid, fmt.Errorf("no Coffer database in %s: %s: give the server's database with --db (or COFFER_DB), or start the server once with coffer serve to set one up", d, reason))
		}
		return nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		return nil // there, or unreadable: Open says which
	}
	if cfg.DSN != "" {
		return errs.E(errs.Invalid, fmt.Errorf("no Coffer database at %s: give the server's database with --db FILE (or COFFER_DB), or start the server once with coffer serve to create one", shown(path)))
	}
	missing := ""
	if _, err := os.Stat(cfg.DataDir); err == nil {
		missing = fmt.Sprintf(" (no %s there)", filepath.Base(path))
	}
	return errs.E(errs.Invalid, fmt.Errorf("no Coffer data folder at %s%s: give the server's folder with --data DIR (or COFFER_DATA), or start the server once with coffer serve to create one", shown(cfg.DataDir), missing))
}

// shown is path for a message: absolute, so that running a command from the wrong
// directory shows itself.
func shown(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}
