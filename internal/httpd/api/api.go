// Package api is the REST API under /api/v1: a thin adapter that turns HTTP requests
// into calls of the files and accounts use cases and their errors into problem+json.
// It holds no policy: authorisation, quotas and audit happen in the core.
package api

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// Prefix is where the API lives.
const Prefix = "/api/v1"

// MaxJSONBytes bounds a JSON request body.
const MaxJSONBytes = 1 << 20

//go:embed openapi.json
var openAPI []byte

// Server serves the API.
type Server struct {
	files    *files.Service
	accounts *accounts.Service
	auth     *auth.Service
	log      *slog.Logger
	mux      *http.ServeMux

	// SessionAuth, if set, authenticates a request without a bearer token by the web
	// interface's session cookie (ok is false when there is none). It refuses
	// cross-origin requests itself.
	SessionAuth func(r *http.Request) (p auth.Principal, ok bool, err error)

	defender *defender.Service // scores refused parcel links (EnableParcels)
	// Tripwires serves the alerts and suspensions endpoints; nil: they answer 404.
	Tripwires *tripwire.Service
}

// New returns the API server.
func New(f *files.Service, a *accounts.Service, au *auth.Service, log *slog.Logger) *Server {
	s := &Server{files: f, accounts: a, auth: au, log: log, mux: http.NewServeMux()}
	s.routes()
	return s
}

// handler is an API handler for an authenticated caller.
type handler func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET "+Prefix+"/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	m.HandleFunc("POST "+Prefix+"/tokens", s.createToken)
	m.Handle("GET "+Prefix+"/tokens", s.authed(s.listTokens))
	m.Handle("DELETE "+Prefix+"/tokens/{id}", s.authed(s.revokeToken))
	m.Handle("GET "+Prefix+"/me", s.authed(s.me))
	m.Handle("POST "+Prefix+"/move", s.authed(s.move))
	s.adminRoutes()
	s.keyRoutes()
	s.tusRoutes()
	m.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		if allow := s.allowedMethods(r); allow != "" {
			// ServeMux would answer 405 itself, but this catch-all matches every method.
			w.Header().Set("Allow", allow)
			writeProblem(w, r, http.StatusMethodNotAllowed, "use "+allow+" on this endpoint")
			return
		}
		writeProblem(w, r, http.StatusNotFound, "no such API endpoint: see "+Prefix+"/openapi.json")
	})
}

// allowedMethods lists the methods that have a route for r's path, "" when none has.
func (s *Server) allowedMethods(r *http.Request) string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.WithContext(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != Prefix+"/" {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

// ServeHTTP routes a request. The file and directory endpoints take a path in the URL;
// those are routed here, before ServeMux, which would answer a path with ".." or "//" in
// it with a redirect to a "cleaned" path instead of the clear refusal it deserves.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if !rw.wrote {
				writeProblem(rw, r, http.StatusInternalServerError, errs.MsgInternal)
			}
		}
		s.log.Info("request", "method", r.Method, "path", r.URL.Path, "status", rw.code(), "bytes", rw.n,
			"ms", time.Since(start).Milliseconds(), "remote", clientIP(r))
	}()
	h := rw.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	raw := r.URL.EscapedPath()
	switch {
	case strings.HasPrefix(raw, Prefix+"/files/") || raw == Prefix+"/files":
		s.authed(s.fileHandler(strings.TrimPrefix(strings.TrimPrefix(raw, Prefix+"/files"), "/"))).ServeHTTP(rw, r)
	case strings.HasPrefix(raw, Prefix+"/dirs/") || raw == Prefix+"/dirs":
		s.authed(s.dirHandler(strings.TrimPrefix(strings.TrimPrefix(raw, Prefix+"/dirs"), "/"))).ServeHTTP(rw, r)
	case r.URL.Path != path.Clean(r.URL.Path) && r.URL.Path != path.Clean(r.URL.Path)+"/":
		// ServeMux would redirect to the cleaned path; refuse plainly instead, as for files.
		writeProblem(rw, r, http.StatusBadRequest, "the path has \".\", \"..\" or empty segments; send it without them")
	default:
		s.mux.ServeHTTP(rw, r)
	}
}

// statusWriter records what a handler wrote, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	n      int64
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	w.wrote = true
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the connection (deadlines, flushing).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// pathFromURL turns the escaped remainder of a URL path into a virtual path, decoding
// each segment on its own so that an encoded slash (%2F) stays inside its name (where
// files.ParsePath refuses it) instead of splitting it.
func pathFromURL(escaped string) (string, error) {
	if escaped == "" {
		return "/", nil
	}
	segs := strings.Split(escaped, "/")
	for i, seg := range segs {
		dec, err := url.PathUnescape(seg)
		if err != nil {
			return "", errs.E(errs.Invalid, "malformed percent-encoding in the path")
		}
		if strings.Contains(dec, "/") {
			return "", errs.E(errs.Invalid, "slashes are not allowed in names (an encoded %2F was found)")
		}
		segs[i] = dec
	}
	return "/" + strings.Join(segs, "/"), nil
}

// clientIP is the address the request came from. Proxy headers are not trusted.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func client(r *http.Request) auth.Client { return auth.Client{IP: clientIP(r), Protocol: audit.HTTPS} }

// authed requires a bearer token and passes the principal to h.
func (s *Server) authed(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		const scheme = "Bearer "
		authz := r.Header.Get("Authorization")
		if authz == "" && s.SessionAuth != nil {
			if p, ok, err := s.SessionAuth(r); ok {
				if err != nil {
					s.writeError(w, r, err)
				} else if err := h(w, r, p); err != nil {
					s.writeError(w, r, err)
				}
				return
			}
		}
		if len(authz) < len(scheme) || !strings.EqualFold(authz[:len(scheme)], scheme) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
			writeProblem(w, r, http.StatusUnauthorized, "this endpoint needs an API token: send 'Authorization: Bearer TOKEN' (get one with POST "+Prefix+"/tokens and HTTP Basic credentials)")
			return
		}
		p, err := s.auth.Token(r.Context(), strings.TrimSpace(authz[len(scheme):]), client(r))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := h(w, r, p); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// decodeJSON reads a JSON request body into v: at most MaxJSONBytes, no unknown
// fields, exactly one value.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return errs.E(errs.Invalid, "send the request body as application/json")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxJSONBytes))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errs.E(errs.TooLarge, fmt.Sprintf("the JSON body is larger than %d bytes", MaxJSONBytes))
		}
		if errors.Is(err, io.EOF) {
			return errs.E(errs.Invalid, "the request body is empty; send a JSON object")
		}
		return errs.E(errs.Invalid, "malformed JSON: "+err.Error())
	}
	if dec.More() {
		return errs.E(errs.Invalid, "malformed JSON: more than one value in the body")
	}
	// Every request body is an object; null would otherwise pass as an empty one.
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return errs.E(errs.Invalid, "the request body must be a JSON object")
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	if err := strict.Decode(v); err != nil {
		return errs.E(errs.Invalid, "malformed JSON: "+err.Error())
	}
	return nil
}

// tokenRequest is the optional body of POST /tokens.
type tokenRequest struct {
	Name      string `json:"name"`
	ExpiresIn string `json:"expires_in"` // a Go duration such as "720h"
}

// ttl is the requested lifetime; 0 means the default.
func (req tokenRequest) ttl() (time.Duration, error) {
	if req.ExpiresIn == "" {
		return 0, nil
	}
	ttl, err := time.ParseDuration(req.ExpiresIn)
	if err != nil {
		return 0, errs.E(errs.Invalid, "expires_in must be a duration such as \"720h\"")
	}
	return ttl, nil
}

type tokenResponse struct {
	Token   string    `json:"token,omitempty"`
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	User    string    `json:"user"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	LastUse time.Time `json:"last_used,omitzero"`
	Revoked bool      `json:"revoked"`
}

// createToken exchanges HTTP Basic credentials for a bearer token.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="coffer", charset="UTF-8"`)
		writeProblem(w, r, http.StatusUnauthorized, "send your user name and password with HTTP Basic authentication (curl -u USER)")
		return
	}
	var req tokenRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, &req); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	ttl, err := req.ttl()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := s.auth.Password(r.Context(), user, pass, client(r))
	if err != nil {
		if errs.Is(errs.Unauthenticated, err) {
			w.Header().Set("WWW-Authenticate", `Basic realm="coffer", charset="UTF-8"`)
			writeProblem(w, r, http.StatusUnauthorized, errs.Detail(err))
			return
		}
		s.writeError(w, r, err)
		return
	}
	secret, t, err := s.accounts.CreateToken(r.Context(), p, p.Name, req.Name, ttl)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := tokenOut(t)
	resp.Token, resp.User = secret, p.Name
	writeJSON(w, http.StatusCreated, resp)
}

func tokenOut(t db.Token) tokenResponse {
	return tokenResponse{ID: t.ID, Name: t.Name, User: t.UserName, Created: t.Created, Expires: t.Expires, LastUse: t.LastUsed, Revoked: t.Revoked}
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return s.writeTokens(w, r, p, p.Name)
}

// writeTokens answers with the tokens of user (never their secrets).
func (s *Server) writeTokens(w http.ResponseWriter, r *http.Request, p auth.Principal, user string) error {
	ts, err := s.accounts.ListTokens(r.Context(), p, user)
	if err != nil {
		return err
	}
	out := make([]tokenResponse, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenOut(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.accounts.RevokeToken(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type meResponse struct {
	Name       string `json:"name"`
	Admin      bool   `json:"admin"`
	UsedBytes  int64  `json:"used_bytes"`
	QuotaBytes int64  `json:"quota_bytes"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	used, quota, err := s.files.Usage(r.Context(), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, meResponse{Name: p.Name, Admin: p.Admin, UsedBytes: used, QuotaBytes: quota})
	return nil
}

type moveRequest struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Overwrite bool   `json:"overwrite"`
}

func (s *Server) move(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var req moveRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.From == "" || req.To == "" {
		return errs.E(errs.Invalid, "both from and to are required")
	}
	if err := s.files.Rename(r.Context(), p, req.From, req.To, req.Overwrite); err != nil {
		return err
	}
	e, err := s.files.Stat(r.Context(), p, req.To)
	if errs.Is(errs.NotFound, err) {
		// Moved where the caller may write but not look (a drop folder), or gone since:
		// the move happened all the same, and a 404 would invite a retry.
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, entryOut(e))
	return nil
}

// cursor encoding keeps listing cursors opaque to clients.
func encodeCursor(name string) string {
	if name == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(name))
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) > files.MaxNameBytes {
		return "", errs.E(errs.Invalid, "malformed cursor: pass back the next_cursor of the previous page unchanged")
	}
	return string(b), nil
}
