package sftpd

import (
	"context"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/pkg/sftp"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// session serves one SFTP subsystem for one authenticated principal. Every operation
// goes through files with that principal; paths are the user's virtual paths, which
// pkg/sftp has already made absolute and cleaned against "/" (so "../x" is "/x": no
// path can leave the user's tree, and none names a host file).
type session struct {
	srv *Server
	p   auth.Principal
	ctx context.Context // ends when the connection does

	mu      sync.Mutex
	uploads map[*upload]struct{}
}

func newSession(srv *Server, p auth.Principal, ctx context.Context) *session {
	return &session{srv: srv, p: p, ctx: ctx, uploads: map[*upload]struct{}{}}
}

func (s *session) handlers() sftp.Handlers {
	return sftp.Handlers{FileGet: s, FilePut: s, FileCmd: s, FileList: s}
}

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
func (s *session) refuse(action, path string, code error, msg string) error {
	_ = s.srv.cfg.Files.Refused(s.ctx, s.p, action, path, errs.E(errs.Permission, msg))
	return status(code, msg)
}

// Fileread opens a file for download.
func (s *session) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	fr, err := s.srv.cfg.Files.Open(s.ctx, s.p, r.Filepath)
	if err != nil {
		return nil, s.report("open", r.Filepath, err)
	}
	return newDownloadReader(fr), nil
}

// Filewrite opens a file for upload.
func (s *session) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	return s.openWrite(r)
}

// OpenFile serves read-write opens (pkg/sftp's Client.Create uses them) as uploads.
func (s *session) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	return s.openWrite(r)
}

// openWrite starts an upload. An open without truncation continues the caller's
// partial upload there, if any (OpenSSH reput opens with append; the writes then start at
// the size that stat reported); otherwise it is a new upload, and appending to a
// complete file is refused.
func (s *session) openWrite(r *sftp.Request) (*upload, error) {
	fl := r.Pflags()
	fsvc := s.srv.cfg.Files
	if fl.Excl {
		if _, err := fsvc.Stat(s.ctx, s.p, r.Filepath); err == nil {
			return nil, status(sftp.ErrSSHFxFailure, "already exists: "+r.Filepath)
		}
	}
	resume, offset := false, int64(0)
	if !fl.Trunc {
		part, err := fsvc.PartialAt(s.ctx, s.p, r.Filepath)
		switch {
		case err == nil:
			resume, offset = true, part.Size
		case fl.Append && errs.Is(errs.NotFound, err):
			return nil, s.refuse(audit.ActFileUpload, r.Filepath, sftp.ErrSSHFxOpUnsupported,
				"appending is supported only to continue an interrupted upload, and there is none of this file: upload the whole file (put)")
		case !errs.Is(errs.NotFound, err):
			return nil, s.report("open", r.Filepath, err)
		}
	}
	u, err := s.startUpload(r.Filepath, resume, offset)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.uploads[u] = struct{}{}
	s.mu.Unlock()
	return u, nil
}

func (s *session) forget(u *upload) {
	s.mu.Lock()
	delete(s.uploads, u)
	s.mu.Unlock()
}

// openUpload returns an upload in progress to path, if any.
func (s *session) openUpload(path string) *upload {
	s.mu.Lock()
	defer s.mu.Unlock()
	for u := range s.uploads {
		if u.path == path {
			return u
		}
	}
	return nil
}

// Filecmd serves setstat, rename, rmdir, mkdir, remove, symlink and link.
func (s *session) Filecmd(r *sftp.Request) error {
	fsvc := s.srv.cfg.Files
	switch r.Method {
	case "Setstat":
		return s.setstat(r)
	case "Rename":
		return s.report("rename", r.Filepath, fsvc.Rename(s.ctx, s.p, r.Filepath, r.Target, false))
	case "Mkdir":
		_, err := fsvc.Mkdir(s.ctx, s.p, r.Filepath, false)
		return s.report("mkdir", r.Filepath, err)
	case "Rmdir":
		e, err := fsvc.Stat(s.ctx, s.p, r.Filepath)
		if err != nil {
			return s.report("rmdir", r.Filepath, err)
		}
		if !e.IsDir {
			return status(sftp.ErrSSHFxFailure, "not a directory: use rm")
		}
		return s.report("rmdir", r.Filepath, fsvc.Delete(s.ctx, s.p, r.Filepath, false))
	case "Remove":
		e, err := fsvc.Stat(s.ctx, s.p, r.Filepath)
		if errs.Is(errs.NotFound, err) {
			// rm of an interrupted upload's name drops the partial upload.
			if derr := fsvc.DiscardPartial(s.ctx, s.p, r.Filepath); !errs.Is(errs.NotFound, derr) {
				return s.report("remove", r.Filepath, derr)
			}
		}
		if err != nil {
			return s.report("remove", r.Filepath, err)
		}
		if e.IsDir {
			return status(sftp.ErrSSHFxFailure, "is a directory: use rmdir")
		}
		return s.report("remove", r.Filepath, fsvc.Delete(s.ctx, s.p, r.Filepath, false))
	case "Symlink", "Link":
		return s.refuse(audit.ActFileLink, r.Target, sftp.ErrSSHFxPermissionDenied, "links are not supported")
	}
	return status(sftp.ErrSSHFxOpUnsupported, "unsupported operation "+r.Method)
}

// PosixRename is rename that replaces an existing file (posix-rename@openssh.com).
func (s *session) PosixRename(r *sftp.Request) error {
	return s.report("rename", r.Filepath, s.srv.cfg.Files.Rename(s.ctx, s.p, r.Filepath, r.Target, true))
}

// setstat applies a modification time; ownership and permission bits have no meaning
// here and are ignored; a size change would be a random-access write and is refused.
func (s *session) setstat(r *sftp.Request) error {
	flags, attrs := r.AttrFlags(), r.Attributes()
	if u := s.openUpload(r.Filepath); u != nil {
		// fsetstat (or setstat) of a file being uploaded, e.g. sftp put -p: the file is
		// not visible yet, so remember the time for the commit.
		// scp (SFTP mode) "truncates" to the length it wrote: that is no change.
		if flags.Size && int64(attrs.Size) != u.written() {
			return s.refuse(audit.ActFileUpload, r.Filepath, sftp.ErrSSHFxOpUnsupported, "changing a file's size is not supported")
		}
		if flags.Acmodtime {
			u.setModified(time.Unix(int64(attrs.Mtime), 0))
		}
		return nil
	}
	fsvc := s.srv.cfg.Files
	if flags.Size {
		e, err := fsvc.Stat(s.ctx, s.p, r.Filepath)
		if err != nil {
			return s.report("setstat", r.Filepath, err)
		}
		if e.IsDir || int64(attrs.Size) != e.Size {
			return s.refuse(audit.ActFileUpload, r.Filepath, sftp.ErrSSHFxOpUnsupported, "changing a file's size (truncate) is not supported: upload the file again")
		}
	}
	if flags.Acmodtime {
		return s.report("setstat", r.Filepath, fsvc.SetModified(s.ctx, s.p, r.Filepath, time.Unix(int64(attrs.Mtime), 0)))
	}
	if !flags.Size {
		// Nothing else to apply; still answer "no such file" for a missing path.
		if _, err := fsvc.Stat(s.ctx, s.p, r.Filepath); err != nil {
			return s.report("setstat", r.Filepath, err)
		}
	}
	return nil
}

// unlimitedBytes is the size reported by statvfs when the user has no quota.
const unlimitedBytes = 1 << 50

// StatVFS reports the user's quota as the file system's size (statvfs@openssh.com,
// "df" in OpenSSH's sftp).
func (s *session) StatVFS(r *sftp.Request) (*sftp.StatVFS, error) {
	used, quota, err := s.srv.cfg.Files.Usage(s.ctx, s.p)
	if err != nil {
		return nil, s.report("statvfs", r.Filepath, err)
	}
	if quota <= 0 {
		quota = used + unlimitedBytes
	}
	const bs = 4096
	free := max(quota-used, 0)
	return &sftp.StatVFS{
		Bsize: bs, Frsize: bs,
		Blocks: uint64(quota / bs), Bfree: uint64(free / bs), Bavail: uint64(free / bs),
		Namemax: files.MaxNameBytes,
	}, nil
}

// Filelist serves directory listings and stat.
func (s *session) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	switch r.Method {
	case "List":
		l := &lister{s: s, path: r.Filepath}
		if err := l.fetch(); err != nil {
			return nil, err
		}
		return l, nil
	case "Stat", "Lstat":
		e, err := s.srv.cfg.Files.Stat(s.ctx, s.p, r.Filepath)
		if err != nil {
			if !errs.Is(errs.NotFound, err) {
				return nil, s.report("stat", r.Filepath, err)
			}
			if u := s.openUpload(r.Filepath); u != nil {
				return listOf(fileInfo{name: base(r.Filepath), size: u.written(), mode: 0o644, mtime: time.Now()}), nil
			}
			// An interrupted upload shows its owner its size where no file is, so that
			// OpenSSH's reput knows where to resume. (Where a file is, that file shows:
			// a download must never see another size than it gets.)
			if part, perr := s.srv.cfg.Files.PartialAt(s.ctx, s.p, r.Filepath); perr == nil {
				return listOf(fileInfo{name: base(r.Filepath), size: part.Size, mode: 0o600, mtime: part.Created}), nil
			}
			return nil, s.report("stat", r.Filepath, err)
		}
		return listOf(infoOf(e)), nil
	}
	return nil, status(sftp.ErrSSHFxOpUnsupported, "unsupported operation "+r.Method)
}

// Readlink: there are no symbolic links.
func (s *session) Readlink(path string) (string, error) {
	return "", status(sftp.ErrSSHFxFailure, "not a symbolic link: this server has none")
}

// listPage is how many entries one files.List call fetches.
const listPage = 1000

// lister pages through files.List as the client reads a directory.
type lister struct {
	s     *session
	path  string
	base  int64 // offset of page[0] in the whole listing
	page  []files.Entry
	after string // cursor of the next page
	done  bool
}

func (l *lister) fetch() error {
	entries, next, err := l.s.srv.cfg.Files.List(l.s.ctx, l.s.p, l.path, l.after, listPage)
	if err != nil {
		return l.s.report("list", l.path, err)
	}
	l.base += int64(len(l.page))
	l.page, l.after, l.done = entries, next, next == ""
	return nil
}

func (l *lister) ListAt(out []os.FileInfo, off int64) (int, error) {
	n := 0
	for n < len(out) {
		for off >= l.base+int64(len(l.page)) {
			if l.done {
				return n, io.EOF
			}
			if off < l.base {
				return n, status(sftp.ErrSSHFxFailure, "directory read out of order")
			}
			if err := l.fetch(); err != nil {
				return n, err
			}
		}
		if off < l.base {
			return n, status(sftp.ErrSSHFxFailure, "directory read out of order")
		}
		out[n] = infoOf(l.page[off-l.base])
		n++
		off++
	}
	return n, nil
}

type listOf fileInfo

func (l listOf) ListAt(out []os.FileInfo, off int64) (int, error) {
	if off > 0 || len(out) == 0 {
		return 0, io.EOF
	}
	out[0] = fileInfo(l)
	return 1, io.EOF
}

// fileInfo is an entry as SFTP reports it: directories 0755, files 0644 (the real
// permissions are Coffer's grants, which POSIX bits cannot express).
type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
}

func infoOf(e files.Entry) fileInfo {
	fi := fileInfo{name: e.Name, size: e.Size, mode: 0o644, mtime: e.Modified}
	if e.IsDir {
		fi.mode, fi.size = fs.ModeDir|0o755, 0
	}
	if e.Path == "/" {
		fi.name = "/"
	}
	return fi
}

func (f fileInfo) Name() string       { return f.name }
func (f fileInfo) Size() int64        { return f.size }
func (f fileInfo) Mode() fs.FileMode  { return f.mode }
func (f fileInfo) ModTime() time.Time { return f.mtime }
func (f fileInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fileInfo) Sys() any           { return nil }

func base(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
