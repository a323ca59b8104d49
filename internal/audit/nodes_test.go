package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
)

// Nodes of a cluster, each with its own connections, append to the chain at once: it
// stays one chain. (Appends inside the transactions of file operations are covered by the
// cluster test, internal/cluster.)
func TestAppendFromSeveralNodes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		t.Parallel()
		ctx := context.Background()
		keys, err := crypt.NewKeyring()
		if err != nil {
			t.Fatal(err)
		}
		dbtest.Open(t, dsn) // migrated
		const nodes, workers, each = 3, 4, 10
		logs := make([]*audit.Log, nodes)
		for n := range nodes {
			d, err := db.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			logs[n] = audit.New(d, keys)
			if err := logs[n].Init(ctx); err != nil { // every node starts with Init
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		for n, l := range logs {
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						rec := audit.Record{Actor: fmt.Sprintf("n%d-w%d", n, w), Action: audit.ActFileUpload, Path: fmt.Sprint("/", i), Result: audit.OK}
						if err := l.Append(ctx, rec); err != nil {
							t.Error(err)
						}
					}
				}()
			}
		}
		wg.Wait()
		rep, err := logs[1].Verify(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(nodes * workers * each); !rep.OK() || rep.Records != want || rep.HeadSeq != want {
			t.Fatalf("after %d appends from %d nodes: %+v", want, nodes, rep)
		}
	})
}
