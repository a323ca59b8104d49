package db

import (
	"context"
	"strings"
	"testing"
	"time"
)

// A query in a transaction runs unprepared the first time and is prepared after it, one
// outside transactions on its first use; both give the same results prepared; migration
// files are never prepared.
func TestStatementsPrepared(t *testing.T) {
	ctx := context.Background()
	d := openForTest(t)
	for query := range d.writeStmts.m {
		if strings.Contains(query, "CREATE TABLE entries") {
			t.Error("a migration file was prepared")
		}
	}
	f, err := d.Q().CreateSharedFolder(ctx, "team", 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, name := range []string{"a", "b", "c"} {
		if (d.writeStmts.get(qInsertEntry) == nil) != (i == 0) {
			t.Errorf("insert %d: prepared %v", i, d.writeStmts.get(qInsertEntry) != nil)
		}
		err := d.Tx(ctx, func(q Q) error {
			_, err := q.InsertEntry(ctx, Entry{FolderID: f.ID, Name: name, Size: int64(i), Created: now, Modified: now, Payload: []byte{byte(i)}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		got, err := d.Q().ListChildren(ctx, f.ID, 0, "", 10)
		if err != nil || len(got) != 3 || got[2].Name != "c" || got[2].Size != 2 {
			t.Fatalf("ListChildren = %+v, %v; want a, b, c", got, err)
		}
		if p, err := d.Q().EntryPayload(ctx, got[1].ID, nil); err == nil || p != nil {
			t.Errorf("EntryPayload with another header = %v, %v; want NotFound", p, err)
		}
	}
	if d.readStmts.get(qListChildren) == nil {
		t.Error("a read outside transactions was not prepared")
	}
}
