package web

import (
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
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
	Sort                map[string]sortLink // by column: name, size, modified
}

// sortLink is a column heading's link: the listing in that column's order (the reverse
// of the current order when it is the current column).
type sortLink struct {
	URL, Aria, Arrow string
}

// sortLinks makes the column headings' links of directory dir (escaped) in order o.
func sortLinks(dirURL string, o files.Order) map[string]sortLink {
	cur := map[files.Order]string{files.ByName: "name", files.ByNameDesc: "name", files.BySize: "size", files.BySizeDesc: "size",
		files.ByModified: "modified", files.ByModifiedDesc: "modified"}[o]
	out := map[string]sortLink{}
	for _, col := range []string{"name", "size", "modified"} {
		l := sortLink{URL: dirURL + "?sort=" + col}
		if col == cur {
			if o.Desc() {
				l.Aria, l.Arrow = "descending", "↓"
			} else {
				l.Aria, l.Arrow, l.URL = "ascending", "↑", l.URL+"&order=desc"
			}
		} else if col != "name" {
			l.URL += "&order=desc" // biggest and newest first, as people look for them
		}
		out[col] = l
	}
	return out
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
	q := r.URL.Query()
	order, err := files.ParseOrder(q.Get("sort"), q.Get("order"))
	var entries []files.Entry
	var next string
	if err == nil {
		entries, next, err = s.files.ListOrdered(ctx, p, dir, order, q.Get("after"), pageSize)
	}
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
	dirURL := "/files" + escapePath(dir) + "/"
	if dir == "/" {
		dirURL = "/files/"
	}
	d := filesData{Crumbs: crumbs(dir), PageSize: pageSize, Sort: sortLinks(dirURL, order)}
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
		v := url.Values{"after": {next}}
		if o := q.Get("sort"); o != "" {
			v.Set("sort", o)
		}
		if o := q.Get("order"); o != "" {
			v.Set("order", o)
		}
		d.Next = dirURL + "?" + v.Encode()
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
