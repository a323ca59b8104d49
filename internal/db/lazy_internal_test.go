package db

import (
	"context"
	"os"
	"testing"
)

const (
	qTestSyncSQLite = `PRAGMA synchronous`
	qTestSyncPG     = `SHOW synchronous_commit`
)

// TxLazy commits without waiting for the disk, and only that transaction: SQLite's one
// write connection is durable again afterwards, for every later Tx.
func TestTxLazySQLite(t *testing.T) {
	ctx := context.Background()
	d := openForTest(t)
	var err error
	sync := func(q Q) (mode int) {
		t.Helper()
		if err := q.q.QueryRowContext(ctx, qTestSyncSQLite).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		return mode
	}
	const normal, full = 1, 2
	var f Folder
	err = d.TxLazy(ctx, func(q Q) error {
		if m := sync(q); m != normal {
			t.Errorf("synchronous in TxLazy = %d, want NORMAL (1)", m)
		}
		f, err = q.CreateSharedFolder(ctx, "lazy", 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := d.Q().FolderByID(ctx, f.ID); err != nil || got.Name != "lazy" {
		t.Errorf("the lazy commit is not visible: %+v, %v", got, err)
	}
	err = d.Tx(ctx, func(q Q) error {
		if m := sync(q); m != full {
			t.Errorf("synchronous in Tx after TxLazy = %d, want FULL (2)", m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A failing TxLazy rolls back and leaves the connection durable too.
	boom := context.Canceled
	if err := d.TxLazy(ctx, func(q Q) error {
		if _, err := q.CreateSharedFolder(ctx, "rolled-back", 0); err != nil {
			return err
		}
		return boom
	}); err == nil {
		t.Error("TxLazy returned nil for a failing fn")
	}
	if _, err := d.Q().FolderByName(ctx, "rolled-back"); err == nil {
		t.Error("the failed TxLazy was committed")
	}
	if err := d.Tx(ctx, func(q Q) error {
		if m := sync(q); m != full {
			t.Errorf("synchronous after a failed TxLazy = %d, want FULL (2)", m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// So does a TxLazy whose context ends inside it (a client that went away).
	cctx, cancel := context.WithCancel(ctx)
	err = d.TxLazy(cctx, func(q Q) error {
		cancel()
		_, err := q.CreateSharedFolder(cctx, "canceled", 0)
		return err
	})
	if err == nil {
		t.Error("TxLazy with a context canceled inside returned nil")
	}
	if err := d.Tx(ctx, func(q Q) error {
		if m := sync(q); m != full {
			t.Errorf("synchronous after a canceled TxLazy = %d, want FULL (2)", m)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// In PostgreSQL, TxLazy turns synchronous_commit off for its own transaction only.
func TestTxLazyPostgres(t *testing.T) {
	dsn := os.Getenv("COFFER_TEST_PG")
	switch {
	case dsn == "" && os.Getenv("COFFER_TEST_REQUIRE_PG") != "":
		t.Fatal("COFFER_TEST_PG is not set but COFFER_TEST_REQUIRE_PG is (see .ci/run)")
	case dsn == "":
		t.Skip("PostgreSQL not configured: set COFFER_TEST_PG")
	}
	ctx := context.Background()
	d, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	show := func(q Q) (v string) {
		t.Helper()
		if err := q.q.QueryRowContext(ctx, qTestSyncPG).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	d.write.SetMaxOpenConns(1) // the next Tx gets the same connection
	if err := d.TxLazy(ctx, func(q Q) error {
		if v := show(q); v != "off" {
			t.Errorf("synchronous_commit in TxLazy = %q, want off", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.Tx(ctx, func(q Q) error {
		if v := show(q); v != "on" {
			t.Errorf("synchronous_commit in Tx after TxLazy = %q, want on", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
