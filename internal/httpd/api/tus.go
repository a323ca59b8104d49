package api

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// Resumable uploads with the tus protocol 1.0 (https://tus.io/protocols/resumable-upload),
// core plus the creation, creation-with-upload and termination extensions, over the
// files layer's uploads in pieces: POST creates a partial upload, PATCH appends to it,
// HEAD tells its offset, DELETE discards it. docs/api.md describes the metadata keys.
// The checksum extension is not offered: a whole-file SHA-256 can be given at creation
// (metadata "sha256") and is checked at completion.

const (
	tusVersion    = "1.0.0"
	tusExtensions = "creation,creation-with-upload,termination"
	tusOffsetType = "application/offset+octet-stream"
	// tusMaxSize is what the server tells clients (Tus-Max-Size); quotas apply as well.
	tusMaxSize = 1 << 40
)

func (s *Server) tusRoutes() {
	m := s.mux
	m.HandleFunc("OPTIONS "+Prefix+"/uploads", s.tusOptions)
	m.HandleFunc("OPTIONS "+Prefix+"/uploads/{id}", s.tusOptions)
	m.Handle("POST "+Prefix+"/uploads", s.tus(s.tusCreate))
	m.Handle("HEAD "+Prefix+"/uploads/{id}", s.tus(s.tusHead))
	m.Handle("PATCH "+Prefix+"/uploads/{id}", s.tus(s.tusPatch))
	m.Handle("DELETE "+Prefix+"/uploads/{id}", s.tus(s.tusDelete))
}

// tusOptions answers the discovery request, which needs no authentication.
func (s *Server) tusOptions(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Tus-Resumable", tusVersion)
	h.Set("Tus-Version", tusVersion)
	h.Set("Tus-Extension", tusExtensions)
	h.Set("Tus-Max-Size", strconv.FormatInt(tusMaxSize, 10))
	w.WriteHeader(http.StatusNoContent)
}

// tus wraps a tus handler: authentication, and the Tus-Resumable version check that the
// protocol asks for on every request but OPTIONS.
func (s *Server) tus(h handler) http.Handler {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		if !tusVersionOK(w, r) {
			return nil
		}
		return h(w, r, p)
	})
}

// tusVersionOK sets Tus-Resumable on the answer and checks the request's; a request of
// another version is answered here (412), and false returned.
func tusVersionOK(w http.ResponseWriter, r *http.Request) bool {
	w.Header().Set("Tus-Resumable", tusVersion)
	if v := r.Header.Get("Tus-Resumable"); v != tusVersion {
		w.Header().Set("Tus-Version", tusVersion)
		writeProblem(w, r, http.StatusPreconditionFailed, fmt.Sprintf("this server speaks tus %s: send the header Tus-Resumable: %s (got %q)", tusVersion, tusVersion, v))
		return false
	}
	return true
}

// tusCreation reads a creation request's Upload-Length and Upload-Metadata.
func tusCreation(r *http.Request) (length int64, meta map[string]string, err error) {
	if r.Header.Get("Upload-Defer-Length") != "" {
		return 0, nil, errs.E(errs.Invalid, "Upload-Defer-Length is not supported: send Upload-Length")
	}
	length, err = strconv.ParseInt(r.Header.Get("Upload-Length"), 10, 64)
	if err != nil || length < 0 {
		return 0, nil, errs.E(errs.Invalid, "send the file's size in bytes as Upload-Length")
	}
	if length > tusMaxSize {
		return 0, nil, errs.E(errs.TooLarge, fmt.Sprintf("the file is larger than this server's limit of %d bytes", int64(tusMaxSize)))
	}
	meta, err = parseTusMetadata(r.Header.Get("Upload-Metadata"))
	return length, meta, err
}

// tusSHA256 reads the optional metadata "sha256" (hex).
func tusSHA256(meta map[string]string) ([]byte, error) {
	v := meta["sha256"]
	if v == "" {
		return nil, nil
	}
	sum, err := hex.DecodeString(v)
	if err != nil || len(sum) != 32 {
		return nil, errs.E(errs.Invalid, `the metadata "sha256" must be 64 hex digits`)
	}
	return sum, nil
}

// tusFirstPiece reports whether a creation request carries the first piece
// (creation-with-upload).
func tusFirstPiece(r *http.Request) bool {
	return r.Header.Get("Content-Type") == tusOffsetType && r.ContentLength != 0
}

// tusPiece checks a PATCH request and returns its Upload-Offset. A request of another
// Content-Type is answered here (415), with ok false.
func tusPiece(w http.ResponseWriter, r *http.Request) (off int64, ok bool, err error) {
	if ct := r.Header.Get("Content-Type"); ct != tusOffsetType {
		writeProblem(w, r, http.StatusUnsupportedMediaType, "send the piece as Content-Type: "+tusOffsetType)
		return 0, false, nil
	}
	off, err = strconv.ParseInt(r.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off < 0 {
		return 0, false, errs.E(errs.Invalid, "send the offset of this piece as Upload-Offset (HEAD the upload to learn it)")
	}
	// A large piece may take long: the server's read timeout would cut it.
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	return off, true, nil
}

// tusCreate creates an upload: Upload-Length and Upload-Metadata with "path" (the whole
// target path) or "filename" (and optionally "dir"), optionally "sha256" (hex). A body of
// type application/offset+octet-stream is the first piece.
func (s *Server) tusCreate(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	length, meta, err := tusCreation(r)
	if err != nil {
		return err
	}
	path := meta["path"]
	if path == "" {
		name := meta["filename"]
		if name == "" {
			return errs.E(errs.Invalid, `say where the file goes: Upload-Metadata "path" (the whole path) or "filename" (and "dir")`)
		}
		if strings.Contains(name, "/") {
			return errs.E(errs.Invalid, `the metadata "filename" must be a name, not a path: use "path" or "dir"`)
		}
		path = strings.TrimSuffix(meta["dir"], "/") + "/" + name
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
	}
	opt := files.StartOptions{Length: length, Parents: meta["parents"] != "false"}
	if opt.SHA256, err = tusSHA256(meta); err != nil {
		return err
	}
	part, err := s.files.StartUpload(r.Context(), p, path, opt)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/uploads/"+part.ID)
	if tusFirstPiece(r) {
		http.NewResponseController(w).SetReadDeadline(time.Time{})
		return s.tusAppend(w, r, p, part.ID, 0, http.StatusCreated)
	}
	w.Header().Set("Upload-Offset", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

// tusID checks the upload id in the URL; another form is no upload.
func tusID(r *http.Request) (string, error) { return tusIDIn(r, "id") }

// tusIDIn checks the upload id in the URL's path value name.
func tusIDIn(r *http.Request, name string) (string, error) {
	id := r.PathValue(name)
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", errs.E(errs.NotFound, "no such upload: the id is malformed")
	}
	return id, nil
}

func (s *Server) tusHead(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := tusID(r)
	if err != nil {
		return err
	}
	part, err := s.files.PartialByID(r.Context(), p, id)
	if err != nil {
		return err
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(part.Size, 10))
	if part.Length >= 0 {
		w.Header().Set("Upload-Length", strconv.FormatInt(part.Length, 10))
	}
	w.Header().Set("Upload-Expires", part.Expires.UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) tusPatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := tusID(r)
	if err != nil {
		return err
	}
	off, ok, err := tusPiece(w, r)
	if !ok {
		return err
	}
	return s.tusAppend(w, r, p, id, off, http.StatusNoContent)
}

// tusAppend streams the request body into upload id at off and answers with the new
// offset; at completion, X-Coffer-Path says where the file now is.
func (s *Server) tusAppend(w http.ResponseWriter, r *http.Request, p auth.Principal, id string, off int64, code int) error {
	part, e, err := s.files.Append(r.Context(), p, id, off, r.Body)
	if err != nil {
		return err
	}
	if e != nil {
		w.Header().Set("Upload-Offset", strconv.FormatInt(e.Size, 10))
		w.Header().Set("X-Coffer-Path", escapePath(e.Path))
		setFileHeaders(w, *e)
	} else {
		w.Header().Set("Upload-Offset", strconv.FormatInt(part.Size, 10))
		w.Header().Set("Upload-Expires", part.Expires.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(code)
	return nil
}

func (s *Server) tusDelete(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := tusID(r)
	if err != nil {
		return err
	}
	if err := s.files.DiscardUpload(r.Context(), p, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseTusMetadata reads Upload-Metadata: comma-separated pairs of a key and, optionally
// after a space, its value in base64.
func parseTusMetadata(v string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	if len(v) > 16<<10 {
		return nil, errs.E(errs.Invalid, "Upload-Metadata is longer than 16 KiB")
	}
	for _, pair := range strings.Split(v, ",") {
		key, val, _ := strings.Cut(strings.TrimSpace(pair), " ")
		if key == "" || strings.ContainsAny(key, " ,") {
			return nil, errs.E(errs.Invalid, fmt.Sprintf("Upload-Metadata has a malformed pair %q", pair))
		}
		if _, dup := out[key]; dup {
			return nil, errs.E(errs.Invalid, fmt.Sprintf("Upload-Metadata names %q twice", key))
		}
		b, err := base64.StdEncoding.DecodeString(val)
		if err != nil {
			return nil, errs.E(errs.Invalid, fmt.Sprintf("Upload-Metadata: the value of %q is not base64", key))
		}
		out[key] = string(b)
	}
	return out, nil
}
