package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// problem is an RFC 9457 problem details object.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
}

// status maps an error kind to an HTTP status. This edge is the only place that knows
// both; the core reports kinds only.
func status(k errs.Kind) int {
	switch k {
	case errs.Invalid:
		return http.StatusBadRequest
	case errs.NotFound:
		return http.StatusNotFound
	case errs.Exist, errs.Conflict, errs.IsDir, errs.NotDir:
		return http.StatusConflict
	case errs.Permission:
		return http.StatusForbidden
	case errs.Unauthenticated:
		return http.StatusUnauthorized
	case errs.Locked:
		return http.StatusTooManyRequests
	case errs.Quota, errs.NoSpace:
		return http.StatusInsufficientStorage
	case errs.Integrity:
		return http.StatusUnprocessableEntity
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	case errs.Canceled:
		return 499 // the client went away; nobody reads this
	case errs.RangeNotSatisfiable:
		return http.StatusRequestedRangeNotSatisfiable
	case errs.Gone:
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

// writeError answers with a problem for err. Internal errors (Kind Other) and storage
// faults are logged in full but shown to the client only generically, so that paths,
// SQL and stack traces never reach it.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	k := errs.KindOf(err)
	code := status(k)
	detail := errs.PublicDetail(err)
	switch k {
	case errs.Other, errs.Unavailable:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case errs.NoSpace:
		s.log.Error("storage full", "path", r.URL.Path, "err", err)
	case errs.Canceled:
		if errors.Is(err, files.ErrBodyRead) && r.Context().Err() == nil {
			// The client is still there to read the answer: its body was malformed
			// (a bad chunk, say), which is its error, not a disconnection.
			code = http.StatusBadRequest
		}
	case errs.Integrity:
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			// Stored data failed authentication: a server-side fault, never the client's.
			code = http.StatusInternalServerError
			s.log.Error("integrity check failed on read", "path", r.URL.Path, "err", err)
		}
	}
	switch k {
	case errs.Unauthenticated:
		w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
	case errs.Locked:
		// An upper bound: a lockout lasts at most the policy's duration from now.
		w.Header().Set("Retry-After", strconv.Itoa(int(s.auth.Policy().LockFor.Seconds())))
	}
	writeProblem(w, r, code, detail)
}

func writeProblem(w http.ResponseWriter, r *http.Request, code int, detail string) {
	title := http.StatusText(code)
	if title == "" {
		title = "Client Closed Request"
	}
	p := problem{
		Type:     "urn:coffer:problem:" + strings.ReplaceAll(strings.ToLower(title), " ", "-"),
		Title:    title,
		Status:   code,
		Detail:   detail,
		Instance: r.URL.Path,
	}
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	h.Del("Repr-Digest")
	h.Del("Content-Disposition")
	h.Del("Content-Range")
	h.Del("Last-Modified")
	h.Set("Content-Type", "application/problem+json")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		json.NewEncoder(w).Encode(p)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		slog.Debug("writing JSON response", "err", err)
	}
}
