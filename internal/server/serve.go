package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/httpd/api"
	"github.com/coffer-mft/coffer/internal/httpd/web"
	"github.com/coffer-mft/coffer/internal/jobs"
)

// Bootstrap creates the first administrator, "admin", when the database has no users.
// Its password is password when given (e.g. from COFFER_ADMIN_PASSWORD), else a random
// one, which is returned to be shown once. created is false when users existed.
func (c *Core) Bootstrap(ctx context.Context, password string) (created bool, shown string, err error) {
	n, err := c.DB.Q().CountUsers(ctx)
	if err != nil || n > 0 {
		return false, "", err
	}
	if password != "" {
		if err := auth.CheckPasswordStrength(password); err != nil {
			return false, "", fmt.Errorf("COFFER_ADMIN_PASSWORD: %v", err)
		}
	}
	_, pw, err := c.Accounts.CreateUser(ctx, accounts.LocalAdmin("coffer-init"), accounts.NewUser{Name: "admin", Password: password, Admin: true})
	if errs.Is(errs.Exist, err) {
		return false, "", nil // another node of the cluster, starting at the same time, made it
	}
	if err != nil {
		return false, "", err
	}
	if password != "" {
		pw = ""
	}
	return true, pw, nil
}

// HTTPS is the HTTPS listener serving the API and the web interface.
type HTTPS struct {
	srv         *http.Server
	ln          net.Listener
	Fingerprint string
	Generated   bool // the self-signed certificate was created now
}

// ListenHTTPS opens the HTTPS listener on the configured address ("127.0.0.1:0" picks a
// free port, as tests do).
func (c *Core) ListenHTTPS() (*HTTPS, error) {
	tlsCfg, fp, gen, err := c.TLSConfig()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Config.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w (is another server using the port? choose another with --http)", c.Config.HTTPAddr, err)
	}
	ln = withProxyProtocol(ln, c.trustedProxies, c.Log)
	webSrv, err := web.New(c.Files, c.Accounts, c.Web, c.Log, c.Version)
	if err != nil {
		ln.Close()
		return nil, err
	}
	apiSrv := api.New(c.Files, c.Accounts, c.Auth, c.Log)
	apiSrv.Tripwires = c.Tripwires
	webSrv.Tripwires = c.Tripwires
	apiSrv.EnableParcels(c.Parcels, c.Defender)
	webSrv.EnableParcels(c.Parcels, apiSrv.RecipientRefused)
	// The web page's scripts call the API with the session cookie.
	apiSrv.SessionAuth = webSrv.SessionPrincipal
	// The API sees its requests unaltered: ServeMux would "clean" a path with ".." in it
	// and redirect, where the API refuses it plainly (and audits the attempt).
	health := api.Health(c.Ready, healthTimeout, c.Log)
	h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.HealthPath {
			health.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.EscapedPath(), api.Prefix+"/") {
			apiSrv.ServeHTTP(w, r)
			return
		}
		// The web interface takes only small forms (files go to the API): without a bound,
		// a multipart body to the sign-in form would be spooled to disk unauthenticated.
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		webSrv.ServeHTTP(w, r)
	}))
	h = hsts(guard(api.Defend(c.Defender, c.Log, h)))
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(c.Log.Handler(), slog.LevelDebug),
		// A non-nil empty map keeps net/http from enabling HTTP/2 by itself.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	if w := c.checkShared(context.Background(), sharedTLS, fp); w != "" {
		c.Log.Warn(w + ": clients that the load balancer sends to both see the certificate change; give every node the same --tls-cert and --tls-key (docs/deploy.md)")
	}
	return &HTTPS{srv: srv, ln: tls.NewListener(ln, tlsCfg), Fingerprint: fp, Generated: gen}, nil
}

// maxFormBytes bounds a request body to the web interface.
const maxFormBytes = 1 << 20

// maxRanges is the most byte ranges a request may ask for; a Range header with more is
// ignored (RFC 9110 lets a server serve the whole file instead). Go before 1.26.9 spends
// CPU without bound parsing many small ranges (GO-2026-6609).
const maxRanges = 16

// guard refuses what no Coffer client sends and what the Go release in use handles
// badly: CONNECT (a 2xx answer would desynchronise the connection, GO-2026-6613; nothing
// here tunnels) and Range headers with very many ranges.
func guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodConnect {
			w.Header().Set("Connection", "close")
			http.Error(w, "CONNECT is not supported", http.StatusMethodNotAllowed)
			return
		}
		if v := r.Header.Get("Range"); v != "" && strings.Count(v, ",") >= maxRanges {
			r.Header.Del("Range")
		}
		h.ServeHTTP(w, r)
	})
}

func hsts(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=63072000")
		h.ServeHTTP(w, r)
	})
}

// Addr is the address the listener is bound to.
func (h *HTTPS) Addr() net.Addr { return h.ln.Addr() }

// Serve serves until Shutdown; it returns nil after a shutdown.
func (h *HTTPS) Serve() error {
	if err := h.srv.Serve(h.ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Shutdown stops accepting connections and waits for requests in progress until ctx
// ends; then it closes the remaining connections, which aborts their transfers (an
// aborted upload leaves nothing visible).
func (h *HTTPS) Shutdown(ctx context.Context) error {
	err := h.srv.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return errors.Join(err, h.srv.Close())
	}
	return err
}

// Maintain runs the periodic housekeeping until ctx ends, each job every so often and
// on one node of a cluster at a time (package jobs): collecting unreferenced and
// abandoned blobs, expired partial uploads and web sessions, stale temporary files and
// multipart uploads, and old failed-login records.
func (c *Core) Maintain(ctx context.Context, every time.Duration) {
	r := jobs.New(c.DB, c.Config.NodeName(), c.Config.JobLease, c.Log)
	c.Log.Debug("periodic jobs", "holder", r.Holder())
	r.Run(ctx, c.jobs(every))
}

// jobs are the housekeeping jobs. Each is idempotent: a run interrupted by a crash, or
// run twice, does no harm.
func (c *Core) jobs(every time.Duration) []jobs.Job {
	js := []jobs.Job{
		{Name: "web-sessions.prune", Every: every, Run: c.pruneSessions},
		// Listed before garbage collection, which deletes the blobs that purging lets go
		// (in maintainOnce at once, between nodes at the next run).
		{Name: "parcels.purge", Every: every, Run: c.purgeParcels},
		// It also expires partial uploads.
		{Name: "blobs.collect", Every: every, Run: c.collectGarbage},
		{Name: "blobs.leftovers", Every: every, Run: c.cleanLeftovers},
		{Name: "login-failures.prune", Every: every, Run: c.pruneLoginFailures},
		{Name: "defender.prune", Every: every, Run: c.Defender.Prune},
		{Name: "tripwire-counts.prune", Every: every, Run: c.Tripwires.Prune},
	}
	return append(js, c.mailJobs()...)
}

// maintainOnce runs every job once, here and now, whatever the leases: for tests.
func (c *Core) maintainOnce(ctx context.Context) {
	for _, j := range c.jobs(time.Hour) {
		if err := j.Run(ctx); err != nil {
			c.Log.Warn("job failed", "job", j.Name, "err", err)
		}
	}
}

func (c *Core) pruneSessions(ctx context.Context) error {
	n, err := c.Web.PruneSessions(ctx)
	if n > 0 {
		c.Log.Info("removed expired web sessions", "count", n)
	}
	return err
}

func (c *Core) purgeParcels(ctx context.Context) error {
	n, err := c.Parcels.Purge(ctx)
	if n > 0 {
		c.Log.Info("deleted the contents of expired or revoked parcels", "count", n)
	}
	return err
}

func (c *Core) collectGarbage(ctx context.Context) error {
	// An upload pending for a day was abandoned by a crash: uploads stream, they do
	// not pause for a day.
	n, err := c.Files.CollectGarbage(ctx, 24*time.Hour)
	if n > 0 {
		c.Log.Info("removed unreferenced blobs", "count", n)
	}
	return err
}

// cleanLeftovers removes what writes that a crash interrupted left in the blob store:
// temporary files of the local store, multipart uploads of S3.
func (c *Core) cleanLeftovers(ctx context.Context) error {
	switch b := c.Blobs.(type) {
	case tempCleaner:
		n, err := b.CleanTemp(c.leftoversAge)
		if n > 0 {
			c.Log.Info("removed abandoned temporary files", "count", n)
		}
		return err
	case staleAborter:
		n, err := b.AbortStale(ctx, c.leftoversAge)
		if n > 0 {
			c.Log.Info("aborted abandoned multipart uploads", "count", n)
		}
		return err
	}
	return nil
}

func (c *Core) pruneLoginFailures(ctx context.Context) error {
	return c.DB.Q().PruneLoginFailures(ctx, time.Now().Add(-24*time.Hour))
}

// AuditSystem records a server event such as start or stop.
func (c *Core) AuditSystem(ctx context.Context, action, detail string) {
	if err := c.Audit.Append(ctx, audit.Record{Actor: "coffer", SourceIP: "local", Protocol: audit.System, Action: action, Result: audit.OK, Detail: detail}); err != nil {
		c.Log.Error("cannot write audit record", "action", action, "err", err)
	}
}
