package audit_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
)

// newLog returns a log with n records and a raw connection to tamper with it.
func newLog(t *testing.T, dsn string, n int) (*audit.Log, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	d := dbtest.Open(t, dsn)
	keys, err := crypt.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	l := audit.New(d, keys)
	if err := l.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Init(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	for i := range n {
		err := l.Append(ctx, audit.Record{Actor: "alice", SourceIP: "192.0.2.1", Protocol: audit.HTTPS,
			Action: audit.ActFileUpload, Path: fmt.Sprintf("/f%d", i), Bytes: int64(i), Result: audit.OK})
		if err != nil {
			t.Fatal(err)
		}
	}
	driver := "sqlite"
	if d.Dialect() == db.Postgres {
		driver = "pgx"
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return l, raw
}

func TestVerifyIntactAndConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		l, _ := newLog(t, dsn, 5)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					if err := l.Append(ctx, audit.Record{Actor: fmt.Sprint("w", w), Action: audit.ActLogin, Path: fmt.Sprint(i), Result: audit.OK}); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		rep, err := l.Verify(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() || rep.Records != 45 || rep.HeadSeq != 45 {
			t.Fatalf("intact log: %+v", rep)
		}
	})
}

func TestVerifyDetectsTampering(t *testing.T) {
	cases := []struct {
		name    string
		sql     []string
		badSeq  int64
		problem string
	}{
		{"altered field", []string{`UPDATE audit_log SET bytes = 999 WHERE seq = 3`}, 3, "altered"},
		{"altered actor", []string{`UPDATE audit_log SET actor = 'mallory' WHERE seq = 1`}, 1, "altered"},
		{"deleted record", []string{`DELETE FROM audit_log WHERE seq = 2`}, 2, "missing"},
		{"reordered records", []string{
			`UPDATE audit_log SET seq = 100 WHERE seq = 2`,
			`UPDATE audit_log SET seq = 2 WHERE seq = 3`,
			`UPDATE audit_log SET seq = 3 WHERE seq = 100`}, 2, "does not chain"},
		{"removed tail", []string{`DELETE FROM audit_log WHERE seq = 5`}, 0, "removed from the end"},
		{"head rolled back", []string{`UPDATE audit_head SET seq = 4`}, 0, "invalid seal"},
		{"record forged without key", []string{`UPDATE audit_log SET mac = hash WHERE seq = 4`}, 4, "invalid seal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, dsn string) {
				l, raw := newLog(t, dsn, 5)
				for _, s := range c.sql {
					//coffer:allow-dynamic-sql the tamper statements are the constants of the table above
					if _, err := raw.Exec(s); err != nil {
						t.Fatal(err)
					}
				}
				rep, err := l.Verify(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if rep.OK() || rep.BadSeq != c.badSeq || !strings.Contains(rep.Problem, c.problem) {
					t.Fatalf("got %+v; want bad record %d with %q", rep, c.badSeq, c.problem)
				}
			})
		})
	}
}

func TestVerifyWithOtherKeyFails(t *testing.T) {
	ctx := context.Background()
	dsn := dbtest.SQLiteDSN(t)
	newLog(t, dsn, 2)
	other, _ := crypt.NewKeyring()
	rep, err := audit.New(dbtest.Open(t, dsn), other).Verify(ctx, nil)
	if err != nil || rep.OK() || rep.BadSeq != 1 {
		t.Fatalf("verify with another key: %+v %v", rep, err)
	}
}

func TestExportAndClipping(t *testing.T) {
	ctx := context.Background()
	l, _ := newLog(t, dbtest.SQLiteDSN(t), 2)
	long := strings.Repeat("é", 3000) // 6000 bytes
	if err := l.Append(ctx, audit.Record{Actor: long, Action: audit.ActLogin, Detail: long, Result: audit.Denied}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := l.ExportJSON(ctx, &buf, time.Time{})
	if err != nil || n != 3 {
		t.Fatalf("export %d %v", n, err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var last audit.Exported
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil {
		t.Fatal(err)
	}
	if len(last.Actor) > 128 || len(last.Detail) > 1024 || !strings.HasPrefix(long, last.Actor) {
		t.Fatalf("fields not clipped on a rune boundary: %d %d", len(last.Actor), len(last.Detail))
	}
	if rep, _ := l.Verify(ctx, nil); !rep.OK() {
		t.Fatalf("clipped record does not verify: %+v", rep)
	}
}

// TestVerifyWhileAppending: records appended while Verify reads the log are no problem
// (Verify once read the head after the records and called a fresh append a removal).
func TestVerifyWhileAppending(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		l, _ := newLog(t, dsn, 1)
		done := make(chan error, 1)
		go func() {
			for i := range 300 {
				if err := l.Append(ctx, audit.Record{Actor: "w", Action: audit.ActLogin, Path: fmt.Sprint(i), Result: audit.OK}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for verified := 0; ; verified++ {
			rep, err := l.Verify(ctx, nil)
			if err != nil || !rep.OK() {
				t.Fatalf("verify %d while appending: %+v, %v", verified, rep, err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				return
			default:
			}
		}
	})
}
