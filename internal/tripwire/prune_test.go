package tripwire_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// TestPruneKeepsTheBaseline checks that pruning forgets only the counts that no
// baseline uses any more.
func TestPruneKeepsTheBaseline(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		d := dbtest.Open(t, dsn)
		pol := tripwire.DefaultPolicy()
		pol.BaselineDays = 3
		s := tripwire.New(d, nil, slog.New(slog.DiscardHandler), pol)
		now := time.Date(2026, 11, 27, 15, 30, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return now })
		today := now.Unix() / 3600 / 24 * 24
		// One file in the last hour of each of the ten days before today, and today.
		for day := int64(-10); day <= 0; day++ {
			if err := d.Q().AddDownload(ctx, 7, today+day*24+23, 1, 100); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Prune(ctx); err != nil {
			t.Fatal(err)
		}
		kept, _, err := d.Q().DownloadSums(ctx, 7, today-3*24, today+24)
		if err != nil || kept != 4 {
			t.Fatalf("the baseline's 3 days and today: %d files, %v; want 4", kept, err)
		}
		all, _, err := d.Q().DownloadSums(ctx, 7, 0, today+24)
		if err != nil || all > 5 {
			t.Fatalf("after pruning %d files are counted in all, %v; want at most 5 (a day of margin)", all, err)
		}
	})
}
