package api

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// entry is a file or directory in API responses.
type entry struct {
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	Type     string    `json:"type"` // "file" or "dir"
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified,omitzero"`
	SHA256   string    `json:"sha256,omitempty"`
	Shared   bool      `json:"shared,omitempty"`
	Perms    []string  `json:"perms"`
}

func entryOut(e files.Entry) entry {
	out := entry{Name: e.Name, Path: e.Path, Type: "file", Size: e.Size, Modified: e.Modified, Shared: e.Shared, Perms: e.Perm.Names()}
	if e.IsDir {
		out.Type = "dir"
	} else {
		out.SHA256 = hex.EncodeToString(e.SHA256)
	}
	return out
}

// fileHandler serves PUT, GET, HEAD and DELETE of /files/{path}.
func (s *Server) fileHandler(escaped string) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		path, err := pathFromURL(escaped)
		if err != nil {
			return s.files.Refused(r.Context(), p, fileAction(r.Method), "/"+escaped, err)
		}
		switch r.Method {
		case http.MethodPut:
			return s.upload(w, r, p, path)
		case http.MethodGet:
			return s.download(w, r, p, path)
		case http.MethodHead:
			return s.head(w, r, p, path)
		case http.MethodDelete:
			return s.remove(w, r, p, path)
		}
		w.Header().Set("Allow", "GET, HEAD, PUT, DELETE")
		writeProblem(w, r, http.StatusMethodNotAllowed, "use GET, HEAD, PUT or DELETE on files")
		return nil
	}
}

// upload streams the request body into a file. The client may announce the SHA-256 of
// the content with Repr-Digest or Content-Digest (RFC 9530); a mismatch refuses the file.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, p auth.Principal, path string) error {
	opt := files.CreateOptions{Size: r.ContentLength, Parents: r.URL.Query().Get("parents") != "false"}
	if opt.Size < 0 {
		opt.Size = -1
	}
	for _, h := range []string{"Repr-Digest", "Content-Digest"} {
		if v := r.Header.Get(h); v != "" {
			sum, err := parseDigest(v)
			if err != nil {
				return errs.E(errs.Invalid, h+": "+err.Error())
			}
			if sum != nil && opt.SHA256 != nil && !bytes.Equal(sum, opt.SHA256) {
				return errs.E(errs.Invalid, "Repr-Digest and Content-Digest name different SHA-256 values; send one, or the same in both")
			}
			if sum != nil {
				opt.SHA256 = sum
			}
		}
	}
	if v := r.Header.Get("X-Coffer-Modified"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return errs.E(errs.Invalid, "X-Coffer-Modified must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		opt.Modified = t
	}
	// A large upload may take long: the server's read timeout would cut it.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	e, err := s.files.Create(r.Context(), p, path, r.Body, opt)
	if err != nil {
		return err
	}
	setFileHeaders(w, e)
	w.Header().Set("Location", Prefix+"/files"+escapePath(e.Path))
	writeJSON(w, http.StatusCreated, entryOut(e))
	return nil
}

// parseDigest reads an RFC 9530 dictionary such as "sha-256=:BASE64:, sha-512=:...:"
// and returns the sha-256 value, or nil when none is given.
func parseDigest(v string) ([]byte, error) {
	for _, member := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(member), "=")
		if !ok {
			return nil, fmt.Errorf("malformed digest %q", member)
		}
		if strings.ToLower(k) != "sha-256" {
			continue
		}
		if len(val) < 2 || val[0] != ':' || val[len(val)-1] != ':' {
			return nil, fmt.Errorf(`the sha-256 value must be base64 between colons, like "sha-256=:X48E9q...=:"`)
		}
		sum, err := base64.StdEncoding.DecodeString(val[1 : len(val)-1])
		if err != nil || len(sum) != 32 {
			return nil, fmt.Errorf("the sha-256 value is not 32 bytes of base64")
		}
		return sum, nil
	}
	return nil, nil
}

func setFileHeaders(w http.ResponseWriter, e files.Entry) {
	h := w.Header()
	h.Set("ETag", `"`+hex.EncodeToString(e.SHA256)+`"`)
	h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(e.SHA256)+":")
	h.Set("Last-Modified", e.Modified.UTC().Format(http.TimeFormat))
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func (s *Server) download(w http.ResponseWriter, r *http.Request, p auth.Principal, path string) error {
	f, err := s.files.Open(r.Context(), p, path)
	if err != nil {
		return err
	}
	e := f.Entry
	setFileHeaders(w, e)
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", attachment(e.Name))
	return s.serveReader(w, r, f)
}

// serveReader sends the content of f (ranges and conditional requests as ServeContent
// does) and closes it, recording the outcome. A file that fails to read after the
// response began breaks the response off.
func (s *Server) serveReader(w http.ResponseWriter, r *http.Request, f *files.Reader) error {
	e := f.Entry
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{})
	src := &readFailure{ReadSeeker: f.Seeker()}
	dw := &deferredWriter{w: w}
	http.ServeContent(dw, r, "", e.Modified, src)
	failure := src.err
	if failure == nil && r.Context().Err() != nil {
		failure = errs.E(errs.Canceled, "the client disconnected")
	}
	f.CloseWith(failure)
	switch {
	case src.err == nil:
		dw.commit()
		return nil
	case !dw.committed:
		return src.err // nothing sent yet: the client gets a problem (500 for a corrupt file)
	}
	// Part of the content is out: break the response off, so that the client cannot
	// take what it got for the whole file.
	s.log.Error("download failed after the response began", "path", r.URL.Path, "err", src.err)
	panic(http.ErrAbortHandler)
}

// readFailure remembers the first error, other than EOF, in reading the file:
// ServeContent drops it, and a failed download must not pass for a successful one.
type readFailure struct {
	io.ReadSeeker
	err error
}

func (r *readFailure) Read(p []byte) (int, error) {
	n, err := r.ReadSeeker.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// attachment is a Content-Disposition that names the file as RFC 6266 and RFC 8187
// say: every byte but an attr-char is %-encoded. (url.PathEscape keeps "=", ":" and "@",
// which make the header unparseable for strict readers such as mime.ParseMediaType.)
func attachment(name string) string {
	const attrChars = "!#$&+-.^_`|~"
	var b strings.Builder
	b.WriteString("attachment; filename*=UTF-8''")
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(attrChars, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// deferredWriter holds the status line back until the first byte of content, so that a
// file that fails to read before any content is sent (its first chunk is corrupt) can
// still be answered with a problem rather than a 200 that breaks off.
type deferredWriter struct {
	w         http.ResponseWriter
	code      int
	committed bool
}

func (d *deferredWriter) Header() http.Header { return d.w.Header() }

func (d *deferredWriter) WriteHeader(code int) {
	if d.code == 0 {
		d.code = code
	}
}

func (d *deferredWriter) Write(p []byte) (int, error) {
	d.commit()
	return d.w.Write(p)
}

// commit sends the status line, if it has not been sent.
func (d *deferredWriter) commit() {
	if d.committed {
		return
	}
	d.committed = true
	if d.code == 0 {
		d.code = http.StatusOK
	}
	d.w.WriteHeader(d.code)
}

func (s *Server) head(w http.ResponseWriter, r *http.Request, p auth.Principal, path string) error {
	e, err := s.files.Stat(r.Context(), p, path)
	if err != nil {
		return err
	}
	if e.IsDir {
		return errs.E(errs.IsDir, "is a directory: use "+Prefix+"/dirs")
	}
	setFileHeaders(w, e)
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(e.Size, 10))
	h.Set("Accept-Ranges", "bytes")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) remove(w http.ResponseWriter, r *http.Request, p auth.Principal, path string) error {
	if err := s.files.Delete(r.Context(), p, path, r.URL.Query().Get("recursive") == "true"); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// dirHandler serves GET (list) and POST (mkdir) of /dirs/{path}.
func (s *Server) dirHandler(escaped string) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		path, err := pathFromURL(escaped)
		if err != nil {
			action := audit.ActDirList
			if r.Method == http.MethodPost {
				action = audit.ActDirCreate
			}
			return s.files.Refused(r.Context(), p, action, "/"+escaped, err)
		}
		switch r.Method {
		case http.MethodGet:
			return s.list(w, r, p, path)
		case http.MethodPost:
			e, err := s.files.Mkdir(r.Context(), p, path, r.URL.Query().Get("parents") == "true")
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusCreated, entryOut(e))
			return nil
		}
		w.Header().Set("Allow", "GET, POST")
		writeProblem(w, r, http.StatusMethodNotAllowed, "use GET to list or POST to create a directory")
		return nil
	}
}

type listing struct {
	Path       string  `json:"path"`
	Entries    []entry `json:"entries"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, p auth.Principal, path string) error {
	q := r.URL.Query()
	after, err := decodeCursor(q.Get("cursor"))
	if err != nil {
		return err
	}
	limit := 1000
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > files.MaxListLimit {
			return errs.E(errs.Invalid, fmt.Sprintf("limit must be a number from 1 to %d", files.MaxListLimit))
		}
	}
	order, err := files.ParseOrder(q.Get("sort"), q.Get("order"))
	if err != nil {
		return err
	}
	es, next, err := s.files.ListOrdered(r.Context(), p, path, order, after, limit)
	if err != nil {
		return err
	}
	out := listing{Path: path, Entries: make([]entry, 0, len(es)), NextCursor: encodeCursor(next)}
	for _, e := range es {
		out.Entries = append(out.Entries, entryOut(e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// fileAction is the audit action of a request on /files.
func fileAction(method string) string {
	switch method {
	case http.MethodPut:
		return audit.ActFileUpload
	case http.MethodDelete:
		return audit.ActFileDelete
	case http.MethodHead:
		return audit.ActFileStat
	}
	return audit.ActFileDownload
}
