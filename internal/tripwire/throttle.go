package tripwire

import (
	"context"
	"io"
	"sync"
	"time"
)

// Throttled is an io.ReaderAt that delivers at most rate bytes a second on average: a
// throttled download completes, slowly, rather than failing. It waits after each read
// until the bytes so far are due; ctx ends the wait (and the read fails with its error).
type Throttled struct {
	r     io.ReaderAt
	ctx   context.Context
	rate  int64
	mu    sync.Mutex
	start time.Time
	n     int64
}

// NewThrottled returns r limited to rate bytes a second.
func NewThrottled(ctx context.Context, r io.ReaderAt, rate int64) *Throttled {
	return &Throttled{r: r, ctx: ctx, rate: max(rate, 1)}
}

// ReadAt reads from the underlying reader, then waits until the bytes are due.
func (t *Throttled) ReadAt(p []byte, off int64) (int, error) {
	n, err := t.r.ReadAt(p, off)
	t.mu.Lock()
	if t.start.IsZero() {
		t.start = time.Now()
	}
	t.n += int64(n)
	due := t.start.Add(time.Duration(float64(t.n) / float64(t.rate) * float64(time.Second)))
	t.mu.Unlock()
	if wait := time.Until(due); wait > 0 {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-t.ctx.Done():
			return 0, t.ctx.Err()
		}
	}
	return n, err
}
