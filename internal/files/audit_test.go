package files_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
)

func TestAuditTrail(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		mallory := f.user("mallory", 0)
		drop := f.folder("drop", 0)
		f.grant(drop, alice, allPerms)
		f.grant(drop, mallory, authz.Write)
		data := randomBytes(100 << 10)
		sum := sha256.Sum256(data)

		f.put(alice, "/report.bin", data)
		r, err := f.svc.Open(f.ctx, alice, "/report.bin")
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1000)
		if _, err := r.ReadAt(buf, 5000); err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadAt(buf[:10], 0); err != nil {
			t.Fatal(err)
		}
		r.Close()
		r.Close() // a second Close records nothing more
		r, err = f.svc.Open(f.ctx, alice, "/report.bin")
		if err != nil {
			t.Fatal(err)
		}
		r.ReadAt(buf[:1], 0)
		r.CloseWith(errors.New("client went away"))
		f.mkdir(alice, "/archive")
		if err := f.svc.Rename(f.ctx, alice, "/report.bin", "/archive/report.bin", false); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Delete(f.ctx, alice, "/archive/report.bin", false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.List(f.ctx, mallory, "/drop", "", 10); err == nil {
			t.Fatal("mallory listed a drop box")
		}
		if _, err := f.svc.Open(f.ctx, mallory, "/../etc/passwd"); err == nil {
			t.Fatal("a path with .. was opened")
		}

		rep := f.verifyAudit()
		want := []db.AuditRecord{
			{Action: audit.ActFileUpload, Path: "/report.bin", Bytes: int64(len(data)), Result: audit.OK, Detail: "sha256:" + hex.EncodeToString(sum[:])},
			{Action: audit.ActFileDownload, Path: "/report.bin", Bytes: 1010, Result: audit.OK},
			{Action: audit.ActFileDownload, Path: "/report.bin", Bytes: 1, Result: audit.Failed, Detail: "client went away"},
			{Action: audit.ActDirCreate, Path: "/archive", Result: audit.OK},
			{Action: audit.ActFileRename, Path: "/report.bin", Target: "/archive/report.bin", Result: audit.OK},
			{Action: audit.ActFileDelete, Path: "/archive/report.bin", Bytes: int64(len(data)), Result: audit.OK},
			{Actor: "mallory", Action: audit.ActDirList, Path: "/drop", Result: audit.Denied, Detail: "no such file or directory"},
			{Actor: "mallory", Action: audit.ActFileDownload, Path: "/../etc/passwd", Result: audit.Denied},
		}
		got, err := f.db.Q().AuditAfter(f.ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Records != int64(len(want)) || len(got) != len(want) {
			t.Fatalf("%d records (verified %d), want %d: %+v", len(got), rep.Records, len(want), got)
		}
		for i, w := range want {
			g := got[i]
			if w.Actor == "" {
				w.Actor = "alice"
			}
			if g.Actor != w.Actor || g.Action != w.Action || g.Path != w.Path || g.Target != w.Target || g.Bytes != w.Bytes ||
				g.Result != w.Result || (w.Detail != "" && g.Detail != w.Detail) || g.SourceIP != "192.0.2.1" || g.Protocol != audit.HTTPS {
				t.Errorf("record %d:\n got %+v\nwant %+v", i+1, g, w)
			}
		}
	})
}
