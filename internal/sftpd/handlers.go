package sftpd

import (
	"fmt"
	"path"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// The operations of a session on the files layer, each with the session's principal.
// Paths are the user's virtual paths, made absolute and clean by cleanPath first (so
// "../x" is "/x": no path can leave the user's tree, and none names a host file).

// cleanPath makes a client's path absolute (relative to "/", the user's home) and clean.
func cleanPath(p []byte) string { return path.Clean("/" + string(p)) }

// report logs what the administrator should see and returns err as an SFTP status.
func (s *session) report(op, path string, err error) error {
	if err == nil {
		return nil
	}
	if internal(err) {
		s.srv.log.Error("sftp operation failed", "op", op, "path", path, "user", s.p.Name, "ip", s.p.SourceIP, "err", err)
	} else {
		s.srv.log.Debug("sftp operation refused", "op", op, "path", path, "user", s.p.Name, "err", err)
	}
	return toStatus(err)
}

// refuse audits a request refused at the protocol edge and returns it as a status.
func (s *session) refuse(action, path string, code uint32, msg string) error {
	_ = s.srv.cfg.Files.Refused(s.ctx, s.p, action, path, errs.E(errs.Permission, msg))
	return status(code, msg)
}

// openRead opens a file for download.
func (s *session) openRead(p string) (*download, error) {
	fr, err := s.srv.cfg.Files.Open(s.ctx, s.p, p)
	if err != nil {
		return nil, s.report("open", p, err)
	}
	return newDownload(s.srv, fr), nil
}

// openWrite starts an upload. An open without truncation continues the caller's
// partial upload there, if any (OpenSSH reput opens with append; the writes then start at
// the size that stat reported); otherwise it is a new upload, and appending to a
// complete file is refused.
func (s *session) openWrite(p string, pflags uint32) (*upload, error) {
	fsvc := s.srv.cfg.Files
	if pflags&fxfExcl != 0 {
		if _, err := fsvc.Stat(s.ctx, s.p, p); err == nil {
			return nil, status(fxFailure, "already exists: "+p)
		}
	}
	resume, offset := false, int64(0)
	if pflags&fxfTrunc == 0 {
		part, err := fsvc.PartialAt(s.ctx, s.p, p)
		switch {
		case err == nil:
			resume, offset = true, part.Size
		case pflags&fxfAppend != 0 && errs.Is(errs.NotFound, err):
			return nil, s.refuse(audit.ActFileUpload, p, fxOpUnsupported,
				"appending is supported only to continue an interrupted upload, and there is none of this file: upload the whole file (put)")
		case !errs.Is(errs.NotFound, err):
			return nil, s.report("open", p, err)
		}
	}
	return s.startUpload(p, resume, offset)
}

// openUpload returns an upload in progress to path in this session, if any.
func (s *session) openUpload(p string) *upload {
	for _, h := range s.handles {
		if h.up != nil && h.path == p {
			return h.up
		}
	}
	return nil
}

func (s *session) mkdir(p string) error {
	_, err := s.srv.cfg.Files.Mkdir(s.ctx, s.p, p, false)
	return s.report("mkdir", p, err)
}

func (s *session) rmdir(p string) error {
	fsvc := s.srv.cfg.Files
	e, err := fsvc.Stat(s.ctx, s.p, p)
	if err != nil {
		return s.report("rmdir", p, err)
	}
	if !e.IsDir {
		return status(fxFailure, "not a directory: use rm")
	}
	return s.report("rmdir", p, fsvc.Delete(s.ctx, s.p, p, false))
}

func (s *session) remove(p string) error {
	fsvc := s.srv.cfg.Files
	e, err := fsvc.Stat(s.ctx, s.p, p)
	if errs.Is(errs.NotFound, err) {
		// rm of an interrupted upload's name drops the partial upload.
		if derr := fsvc.DiscardPartial(s.ctx, s.p, p); !errs.Is(errs.NotFound, derr) {
			return s.report("remove", p, derr)
		}
	}
	if err != nil {
		return s.report("remove", p, err)
	}
	if e.IsDir {
		return status(fxFailure, "is a directory: use rmdir")
	}
	return s.report("remove", p, fsvc.Delete(s.ctx, s.p, p, false))
}

// rename moves from to to; with overwrite (posix-rename@openssh.com) it replaces an
// existing file.
func (s *session) rename(from, to string, overwrite bool) error {
	return s.report("rename", from, s.srv.cfg.Files.Rename(s.ctx, s.p, from, to, overwrite))
}

// refuseLink refuses symbolic and hard links: there are none.
func (s *session) refuseLink(link string) error {
	return s.refuse(audit.ActFileLink, link, fxPermissionDenied, "links are not supported")
}

// setstat applies a modification time; ownership and permission bits have no meaning
// here and are ignored; a size change would be a random-access write and is refused.
func (s *session) setstat(p string, a attrs) error {
	if u := s.openUpload(p); u != nil {
		return s.setstatUpload(u, p, a)
	}
	fsvc := s.srv.cfg.Files
	if a.flags&attrSize != 0 {
		e, err := fsvc.Stat(s.ctx, s.p, p)
		if err != nil {
			return s.report("setstat", p, err)
		}
		if e.IsDir || int64(a.size) != e.Size {
			return s.refuse(audit.ActFileUpload, p, fxOpUnsupported, "changing a file's size (truncate) is not supported: upload the file again")
		}
	}
	if a.flags&attrACModTime != 0 {
		return s.report("setstat", p, fsvc.SetModified(s.ctx, s.p, p, time.Unix(int64(a.mtime), 0)))
	}
	if a.flags&attrSize == 0 {
		// Nothing else to apply; still answer "no such file" for a missing path.
		if _, err := fsvc.Stat(s.ctx, s.p, p); err != nil {
			return s.report("setstat", p, err)
		}
	}
	return nil
}

// setstatUpload applies a setstat to upload u of path p (e.g. sftp put -p). The file is
// not visible yet, so the time is kept for the commit. An upload that has failed already
// (the quota, storage) answers with its failure, as its WRITEs and CLOSE do: scp
// "truncates" after its writes, and was told "unsupported" instead.
func (s *session) setstatUpload(u *upload, p string, a attrs) error {
	if err := u.stopped(); err != nil {
		return err
	}
	// scp (SFTP mode) "truncates" to the length it wrote: that is no change.
	if a.flags&attrSize != 0 && int64(a.size) != u.written() {
		return s.refuse(audit.ActFileUpload, p, fxOpUnsupported, "changing a file's size is not supported")
	}
	if a.flags&attrACModTime != 0 {
		u.mtime = time.Unix(int64(a.mtime), 0)
	}
	return nil
}

// unlimitedBytes is the size reported by statvfs when the user has no quota.
const unlimitedBytes = 1 << 50

// statVFS reports the user's quota as the file system's size (statvfs@openssh.com,
// "df" in OpenSSH's sftp): bsize, frsize, blocks, bfree, bavail, files, ffree, favail,
// fsid, flag, namemax.
func (s *session) statVFS(p string) ([11]uint64, error) {
	used, quota, err := s.srv.cfg.Files.Usage(s.ctx, s.p)
	if err != nil {
		return [11]uint64{}, s.report("statvfs", p, err)
	}
	if quota <= 0 {
		quota = used + unlimitedBytes
	}
	const bs = 4096
	free := uint64(max(quota-used, 0) / bs)
	return [11]uint64{bs, bs, uint64(quota / bs), free, free, 0, 0, 0, 0, 0, files.MaxNameBytes}, nil
}

// statPath describes the file or directory at p, or the upload to it in progress.
func (s *session) statPath(p string) (fileAttrs, error) {
	// One resolution of the path for the file, or where there is none, the caller's
	// partial upload (StatPartial).
	e, part, err := s.srv.cfg.Files.StatPartial(s.ctx, s.p, p)
	switch {
	case err == nil && part == nil:
		return attrsOf(e), nil
	case err != nil && !errs.Is(errs.NotFound, err):
		return fileAttrs{}, s.report("stat", p, err)
	}
	if u := s.openUpload(p); u != nil {
		return fileAttrs{size: u.written(), mode: modeFile | 0o644, mtime: time.Now().Unix()}, nil
	}
	// An interrupted upload shows its owner its size where no file is, so that OpenSSH's
	// reput knows where to resume. (Where a file is, that file shows: a download must
	// never see another size than it gets.)
	if part != nil {
		return fileAttrs{size: part.Size, mode: modeFile | 0o600, mtime: part.Created.Unix()}, nil
	}
	return fileAttrs{}, s.report("stat", p, err)
}

// attrsOf is an entry as SFTP reports it: directories 0755, files 0644 (the real
// permissions are Coffer's grants, which POSIX bits cannot express).
func attrsOf(e files.Entry) fileAttrs {
	if e.IsDir {
		return fileAttrs{mode: modeDir | 0o755, mtime: e.Modified.Unix()}
	}
	return fileAttrs{size: e.Size, mode: modeFile | 0o644, mtime: e.Modified.Unix()}
}

// listPage is how many entries one files.List call fetches.
const listPage = 1000

// dirEntry is one entry of a READDIR answer.
type dirEntry struct {
	name  string
	attrs fileAttrs
	mtime time.Time
}

// lister pages through files.List as the client reads a directory.
type lister struct {
	s     *session
	path  string
	page  []files.Entry
	after string // cursor of the next page
	done  bool   // page is the last
}

func (s *session) openDir(p string) (*lister, error) {
	l := &lister{s: s, path: p}
	if err := l.fetch(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *lister) fetch() error {
	entries, next, err := l.s.srv.cfg.Files.List(l.s.ctx, l.s.p, l.path, l.after, listPage)
	if err != nil {
		return l.s.report("list", l.path, err)
	}
	l.page, l.after, l.done = entries, next, next == ""
	return nil
}

// next returns up to n entries, and fewer once they take about size bytes; none at the
// end of the directory.
func (l *lister) next(n, size int) ([]dirEntry, error) {
	var out []dirEntry
	for len(out) < n && size > 0 {
		if len(l.page) == 0 {
			if l.done {
				break
			}
			if err := l.fetch(); err != nil {
				return out, err
			}
			continue
		}
		e := l.page[0]
		l.page = l.page[1:]
		name := e.Name
		if e.Path == "/" {
			name = "/"
		}
		out = append(out, dirEntry{name: name, attrs: attrsOf(e), mtime: e.Modified})
		size -= 2*len(name) + 128
	}
	return out, nil
}

// appendLongname appends the entry as "ls -l" shows it, as OpenSSH's sftp prints it.
func appendLongname(b []byte, e dirEntry, now time.Time) []byte {
	perms := "-rw-r--r--"
	if e.attrs.mode&modeDir != 0 {
		perms = "drwxr-xr-x"
	}
	yearOrTime := e.mtime.Format("15:04")
	if e.mtime.Before(now.AddDate(0, -6, 0)) {
		yearOrTime = e.mtime.Format("2006")
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = fmt.Appendf(b, "%s %4d %-8s %-8s %8d %s %5s %s", perms, 1, "0", "0", e.attrs.size, e.mtime.Format("Jan 2"), yearOrTime, e.name)
	putU32(b[start:], uint32(len(b)-start-4))
	return b
}
