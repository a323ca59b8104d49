package db

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The listing query must walk the (folder_id, parent_id, name) index from the cursor,
// never scan or sort: that is what keeps a folder of 100,000 entries fast.
func TestListChildrenUsesIndex(t *testing.T) {
	ctx := context.Background()
	d := openForTest(t)
	rows, err := d.read.QueryContext(ctx, `EXPLAIN QUERY PLAN `+qListChildren, 1, 0, "m", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	p := strings.Join(plan, "; ")
	if !strings.Contains(p, "USING INDEX") || !strings.Contains(p, "name>?") || strings.Contains(p, "TEMP B-TREE") {
		t.Fatalf("listing plan does not use the index from the cursor: %s", p)
	}
}

func openForTest(t testing.TB) *DB {
	t.Helper()
	ctx := context.Background()
	d, err := Open(ctx, t.TempDir()+"/coffer.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// BenchmarkListChildren100k lists 1,000-entry pages from the middle of a folder of
// 100,000 entries.
func BenchmarkListChildren100k(b *testing.B) {
	ctx := context.Background()
	d := openForTest(b)
	var folder int64
	err := d.Tx(ctx, func(q Q) error {
		u, err := q.CreateUser(ctx, NewUser{Name: "u"})
		if err != nil {
			return err
		}
		folder = u.HomeFolderID
		now := time.Now()
		for i := range 100_000 {
			if _, err := q.InsertEntry(ctx, Entry{FolderID: folder, Name: fmt.Sprintf("file-%06d.csv", i), Size: int64(i),
				SHA256: make([]byte, 32), BlobID: fmt.Sprintf("%032x", i), CryptHeader: make([]byte, 200), Created: now, Modified: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		after := fmt.Sprintf("file-%06d.csv", (i*7919)%99_000)
		page, err := d.Q().ListChildren(ctx, folder, 0, after, 1000)
		if err != nil || len(page) != 1000 {
			b.Fatalf("page of %d: %v", len(page), err)
		}
	}
}
