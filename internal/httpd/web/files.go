package web

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/errs"
)

// pageSize is how many entries one page of the browser shows: a folder of any size
// renders in the time of one files.List call.
const pageSize = 250

type crumb struct {
	Name, URL string
	Last      bool
}

type row struct {
	Name, Path, URL, Download string
	IsDir, Shared             bool
	Size                      int64
	SizeText, SHA256          string
	ModifiedText, ModifiedISO string
	ModifiedUnix              int64
}

type filesData struct {
	Crumbs              []crumb
	Entries             []row
	CanWrite, CanDelete bool
	Used, Quota         int64
	UsedText, QuotaText string
	Next                string
	PageSize            int
}

// escapePath percent-encodes each segment of a virtual path.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// filesPage lists a directory: /files/{path}, with ?after= for the next page.
func (s *Server) filesPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	dir := "/" + strings.Trim(strings.TrimPrefix(r.URL.Path, "/files"), "/")
	ctx := r.Context()
	entries, next, err := s.files.List(ctx, p, dir, r.URL.Query().Get("after"), pageSize)
	if err != nil {
		code, msg := http.StatusInternalServerError, "This folder cannot be shown right now."
		switch errs.KindOf(err) {
		case errs.NotFound, errs.NotDir:
			code, msg = http.StatusNotFound, "There is no folder "+dir+" (or you may not see it)."
		case errs.Invalid:
			code, msg = http.StatusBadRequest, errs.Detail(err)
		case errs.Permission:
			code, msg = http.StatusForbidden, "You may not list "+dir+"."
		default:
			s.log.Error("listing for the web failed", "dir", dir, "err", err)
		}
		s.render(w, "files", code, page{Title: "Files", Section: "files", User: &p, Dir: dir, Flash: msg, FlashKind: "error"}, filesData{Crumbs: crumbs(dir)})
		return
	}
	d := filesData{Crumbs: crumbs(dir), PageSize: pageSize}
	// What the caller may do here: the permission of the folder this directory is in.
	if st, err := s.files.Stat(ctx, p, dir); err == nil {
		d.CanWrite, d.CanDelete = st.Perm&authz.Write != 0, st.Perm&authz.Delete != 0
	}
	for _, e := range entries {
		rw := row{Name: e.Name, Path: e.Path, IsDir: e.IsDir, Shared: e.Shared, Size: e.Size,
			ModifiedText: formatTime(e.Modified), ModifiedISO: e.Modified.UTC().Format("2006-01-02T15:04:05Z"), ModifiedUnix: e.Modified.Unix()}
		if e.IsDir {
			rw.URL = "/files" + escapePath(e.Path) + "/"
		} else {
			rw.Download = "/api/v1/files" + escapePath(e.Path)
			rw.SizeText = formatBytes(e.Size)
			rw.SHA256 = hex.EncodeToString(e.SHA256)
		}
		d.Entries = append(d.Entries, rw)
	}
	if next != "" {
		d.Next = "/files" + escapePath(dir) + "?after=" + url.QueryEscape(next)
		if dir == "/" {
			d.Next = "/files/?after=" + url.QueryEscape(next)
		}
	}
	if used, quota, err := s.files.Usage(ctx, p); err == nil {
		d.Used, d.Quota, d.UsedText, d.QuotaText = used, quota, formatBytes(used), formatBytes(quota)
	}
	s.render(w, "files", http.StatusOK, page{Title: "Files", Section: "files", User: &p, Dir: dir, Scripts: []string{"files.js", "upload.js"}}, d)
}

func crumbs(dir string) []crumb {
	out := []crumb{{Name: "Home", URL: "/files/"}}
	if dir == "/" {
		out[0].Last = true
		return out
	}
	parts := strings.Split(strings.Trim(dir, "/"), "/")
	for i, name := range parts {
		out = append(out, crumb{Name: name, URL: "/files" + escapePath("/"+strings.Join(parts[:i+1], "/")) + "/", Last: i == len(parts)-1})
	}
	return out
}
