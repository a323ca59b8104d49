package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// HealthPath is the load balancers' readiness check (docs/deploy.md). It needs no
// sign-in and says only whether the node can serve: 200 with {"status":"ok"}, or 503 with
// a problem+json naming the component that failed (the cause goes to the log only).
const HealthPath = "/healthz"

// healthTTL is how long a result answers further checks: a check costs a database query
// and a blob store request, and anybody may ask.
const healthTTL = time.Second

// Health is the handler of HealthPath. ready checks the node's backends within the
// context's deadline; when one fails, it returns its name ("database") and the cause.
func Health(ready func(ctx context.Context) (failed string, err error), timeout time.Duration, log *slog.Logger) http.Handler {
	return &health{ready: ready, timeout: timeout, log: log}
}

type health struct {
	ready   func(ctx context.Context) (string, error)
	timeout time.Duration
	log     *slog.Logger

	mu      sync.Mutex // held during a check, so that concurrent requests share one
	checked time.Time
	failed  string // the component that failed the last check, or ""
}

func (h *health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeProblem(w, r, http.StatusMethodNotAllowed, "use GET or HEAD")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if failed := h.check(r.Context()); failed != "" {
		w.Header().Set("Retry-After", "1")
		writeProblem(w, r, http.StatusServiceUnavailable, "this node is not ready: its "+failed+" does not answer")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// check returns the component that failed, or "" when the node is ready.
func (h *health) check(ctx context.Context) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.checked.IsZero() && time.Since(h.checked) < healthTTL {
		return h.failed
	}
	// The balancer's connection may go; the result serves the next check.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.timeout)
	defer cancel()
	failed, err := h.ready(ctx)
	switch {
	case failed != "" && failed != h.failed:
		h.log.Warn("health check failed: the node answers 503 until it passes", "failed", failed, "err", err)
	case failed == "" && h.failed != "":
		h.log.Info("health check passes again")
	}
	h.checked, h.failed = time.Now(), failed
	return failed
}
