// Package testenv runs a whole Coffer server in-process, on an ephemeral loopback port,
// in a temporary data directory, for tests at the protocol edge.
package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/blob/s3/s3test"
	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/server"
)

// Env is a running server.
type Env struct {
	Core       *server.Core
	URL        string // https://127.0.0.1:PORT
	Client     *http.Client
	AdminToken string
	CertPEM    []byte
	SFTPAddr   string // host:port of the SFTP listener when Options.SFTP is set
	https      *server.HTTPS
	s3         *s3test.Server // the S3 server and bucket of the blobs, when they are in S3
	bucket     string
}

// Options tune New.
type Options struct {
	DSN     string // database; "" = SQLite in the data dir, or see COFFER_TEST_DB
	Blobs   string // blob store URL (--blobs); "" = the local store, or see COFFER_TEST_BLOBS
	DataDir string // "" = a new temporary directory
	Log     io.Writer
	Verbose bool // log at the debug level (every API request), not only warnings
	SFTP    bool // also serve SFTP on an ephemeral port (Env.SFTPAddr)
	Mail    config.Mail
}

// The environment can move every server that New starts with the default database or
// blob store onto the stores of a cluster, so that the protocol test suites run on
// PostgreSQL and S3 as well as on SQLite and local disk (.ci/run does both):
//
//	COFFER_TEST_DB=postgres  a fresh database of the COFFER_TEST_PG server (dbtest)
//	COFFER_TEST_BLOBS=s3     a fresh bucket of the COFFER_TEST_S3 server (s3test)
//
// Tests that look at the local files themselves check Env.LocalBlobs or LocalDB.
func stores(t testing.TB, opt Options) (dsn, blobs string, env func(string) string, sv *s3test.Server, bucket string) {
	t.Helper()
	dsn, blobs, env = opt.DSN, opt.Blobs, func(string) string { return "" }
	switch v := os.Getenv("COFFER_TEST_DB"); {
	case v == "postgres" && dsn == "":
		dsn = dbtest.PostgresDSN(t)
	case v != "" && v != "postgres" && v != "sqlite":
		t.Fatalf("COFFER_TEST_DB=%q: use postgres or sqlite", v)
	}
	switch v := os.Getenv("COFFER_TEST_BLOBS"); {
	case v == "s3" && blobs == "":
		if os.Getenv("COFFER_TEST_S3") == "" {
			t.Fatal("COFFER_TEST_BLOBS=s3 needs an S3 server: set COFFER_TEST_S3, COFFER_TEST_S3_ACCESS and COFFER_TEST_S3_SECRET (see .ci/run)")
		}
		server := s3test.Env(t)
		sv, bucket = &server, server.Bucket(t)
		blobs = "s3://" + bucket + "/coffer?endpoint=" + url.QueryEscape(sv.Endpoint) + "&path-style=true"
		env = sv.Getenv
	case v != "" && v != "s3" && v != "local":
		t.Fatalf("COFFER_TEST_BLOBS=%q: use s3 or local", v)
	}
	return dsn, blobs, env, sv, bucket
}

// New starts a server and stops it when the test ends. It has an administrator "admin"
// whose API token is AdminToken.
func New(t testing.TB, opt Options) *Env {
	t.Helper()
	ctx := context.Background()
	dir := opt.DataDir
	if dir == "" {
		dir = t.TempDir()
	}
	dsn, blobs, env, sv, bucket := stores(t, opt)
	cfg := config.Config{DataDir: dir, DSN: dsn, Blobs: blobs, HTTPAddr: "127.0.0.1:0", SFTPAddr: "127.0.0.1:0", LogFormat: "text", LogLevel: "warn", ShutdownTimeout: 5 * time.Second, Mail: opt.Mail}
	w := opt.Log
	if w == nil {
		w = io.Discard
	}
	level := slog.LevelWarn
	if opt.Verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
	core, err := server.Open(ctx, cfg, log, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { core.Close() })
	if _, _, err := core.Bootstrap(ctx, "admin-password-for-tests"); err != nil {
		t.Fatal(err)
	}
	h, err := core.ListenHTTPS()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- h.Serve() }()
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(sctx)
		<-done
	})
	var sftpAddr string
	if opt.SFTP {
		sftpAddr = startSFTP(t, core)
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	// The environment may set SSL_CERT_FILE; tests trust exactly this server's certificate.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	e := &Env{Core: core, URL: "https://" + h.Addr().String(), Client: &http.Client{Transport: tr}, CertPEM: certPEM, SFTPAddr: sftpAddr, https: h, s3: sv, bucket: bucket}
	e.AdminToken = e.Token(t, "admin")
	return e
}

// LocalBlobs reports whether file contents are in the local store under the data
// directory (not in S3).
func (e *Env) LocalBlobs() bool { return e.Core.Config.Blobs == "" }

// LocalDB reports whether the database is the SQLite file in the data directory.
func (e *Env) LocalDB() bool { return e.Core.Config.DSN == "" }

// startSFTP serves SFTP for core until the test ends and returns its address.
func startSFTP(t testing.TB, core *server.Core) string {
	t.Helper()
	s, err := core.ListenSFTP()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return s.Addr().String()
}

// Token issues an API token for an existing user.
func (e *Env) Token(t testing.TB, user string) string {
	t.Helper()
	secret, _, err := e.Core.Accounts.CreateToken(context.Background(), accounts.LocalAdmin("test"), user, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// User creates a regular user with the given quota (0 = unlimited) and returns a token.
func (e *Env) User(t testing.TB, name string, quota int64) string {
	t.Helper()
	_, _, err := e.Core.Accounts.CreateUser(context.Background(), accounts.LocalAdmin("test"),
		accounts.NewUser{Name: name, Password: "password-of-" + name, Quota: quota})
	if err != nil {
		t.Fatal(err)
	}
	return e.Token(t, name)
}

// Request is one API call.
type Request struct {
	Method  string
	Path    string // e.g. "/api/v1/files/a.txt" (sent as is: escape it yourself)
	Token   string
	Body    io.Reader
	Header  http.Header
	JSON    any // marshalled as the body when set
	BodyLen int64
}

// Do sends r and returns the response with its whole body read.
func (e *Env) Do(t testing.TB, r Request) (*http.Response, []byte) {
	t.Helper()
	body := r.Body
	if r.JSON != nil {
		b, err := json.Marshal(r.JSON)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(r.Method, e.URL+r.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	// Keep the path exactly as given: http.NewRequest would unescape and re-escape it.
	if strings.Contains(r.Path, "%") || strings.Contains(r.Path, "..") {
		req.URL.Opaque = "//" + req.URL.Host + strings.SplitN(r.Path, "?", 2)[0]
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	if r.JSON != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.BodyLen != 0 {
		req.ContentLength = r.BodyLen
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// Shutdown shuts the listener down as SIGTERM does: requests in progress may finish until
// ctx ends, then their connections are closed.
func (e *Env) Shutdown(ctx context.Context) error { return e.https.Shutdown(ctx) }
