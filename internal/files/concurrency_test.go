package files_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// TestConcurrentUploads runs rounds of 8 uploads at once: 3 to distinct new files in a
// directory they all create, 3 replacing one existing file, 2 creating one new file.
// All must succeed, the last committed must be what is visible, and usage and the store
// must match exactly what is visible.
func TestConcurrentUploads(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		f.put(alice, "/same", randomBytes(10))
		visible := map[string][]byte{"/same": nil}
		for round := range 4 {
			paths := make([]string, 8)
			contents := make([][]byte, 8)
			for i := range paths {
				switch {
				case i < 3:
					paths[i] = fmt.Sprintf("/round%d/sub/distinct-%d", round, i)
				case i < 6:
					paths[i] = "/same"
				default:
					paths[i] = fmt.Sprintf("/new-%d", round)
				}
				contents[i] = randomBytes(1000*(i+1) + round) // sizes differ, so usage errors show
			}
			var wg sync.WaitGroup
			failures := make([]error, 8)
			for i := range paths {
				wg.Go(func() {
					_, failures[i] = f.svc.Create(f.ctx, alice, paths[i], bytes.NewReader(contents[i]),
						files.CreateOptions{Size: int64(len(contents[i])), Parents: true})
				})
			}
			wg.Wait()
			for i, err := range failures {
				if err != nil {
					t.Errorf("round %d: Create %s: %v", round, paths[i], err)
				}
			}
			for _, p := range paths {
				visible[p] = nil
			}
			for p := range visible {
				got := f.get(alice, p)
				visible[p] = got
				var candidates [][]byte
				for i := range paths {
					if paths[i] == p {
						candidates = append(candidates, contents[i])
					}
				}
				if len(candidates) > 0 && !slices.ContainsFunc(candidates, func(c []byte) bool { return bytes.Equal(c, got) }) {
					t.Errorf("round %d: %s holds none of the contents written to it", round, p)
				}
				// The last upload committed (in audit order) is what is visible.
				sum := sha256.Sum256(got)
				if rec := f.lastRecord(audit.ActFileUpload, p); rec.Detail != "sha256:"+hex.EncodeToString(sum[:]) {
					t.Errorf("round %d: %s holds content with sha256 %x, but the last upload recorded was %s", round, p, sum, rec.Detail)
				}
			}
		}
		var total int64
		for _, c := range visible {
			total += int64(len(c))
		}
		if used, _, _ := f.svc.Usage(f.ctx, alice); used != total {
			t.Errorf("usage %d, but the visible files hold %d bytes", used, total)
		}
		f.verifyAudit()
		f.clean(len(visible))
	})
}

// TestConcurrentDeletes: of several deletions of one file at once, one succeeds and the
// others find nothing; the file's bytes are released once.
func TestConcurrentDeletes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newFixture(t, dsn, nil)
		alice := f.user("alice", 0)
		f.put(alice, "/keep", randomBytes(100))
		for round := range 4 {
			path := fmt.Sprintf("/victim-%d", round)
			f.put(alice, path, randomBytes(1000))
			var wg sync.WaitGroup
			results := make([]error, 6)
			for i := range results {
				wg.Go(func() { results[i] = f.svc.Delete(f.ctx, alice, path, false) })
			}
			wg.Wait()
			deleted := 0
			for _, err := range results {
				switch {
				case err == nil:
					deleted++
				case !errs.Is(errs.NotFound, err):
					t.Errorf("Delete %s: %v", path, err)
				}
			}
			if deleted != 1 {
				t.Errorf("round %d: %d deletions succeeded, want 1", round, deleted)
			}
		}
		if used, _, _ := f.svc.Usage(f.ctx, alice); used != 100 {
			t.Errorf("usage %d after the deletions, want 100", used)
		}
		if n := len(f.records(audit.ActFileDelete)); n != 4*6 {
			t.Errorf("%d delete records, want %d (one per attempt)", n, 4*6)
		}
		f.verifyAudit()
		f.clean(1)
	})
}
