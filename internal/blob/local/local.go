// Package local is a blob.Store in a directory of the local file system.
//
// Layout under the store directory:
//
//	data/ab/abcdef...   committed blobs, fanned out on the first two hex digits of the id
//	tmp/<random>        blobs being written, renamed into data/ on Commit
//
// Every file access goes through an *os.Root opened on the store directory, so no
// name, and no symbolic link planted inside the directory, can reach outside it.
//
// Commit is durable: the file is fsynced before the rename and its directory after,
// as restic's local backend does.
package local

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
)

const (
	dataDir = "data"
	tmpDir  = "tmp"

	dirPerm  = 0o700
	filePerm = 0o600
)

// Store keeps blobs as files in one directory. It is safe for concurrent use.
type Store struct {
	dir  string // absolute, for messages to operators
	root *os.Root

	// fanoutSynced[b] is set once data/<b as hex> is known to exist and its entry in
	// data/ has been fsynced by this process, so Commit need not sync data/ again.
	fanoutSynced [256]atomic.Bool
}

var (
	_ blob.Store  = (*Store)(nil)
	_ blob.Lister = (*Store)(nil)
)

// New opens the store in dir, creating dir (mode 0700) and its layout if missing.
// The caller must Close the store.
func New(dir string) (*Store, error) {
	const op = errs.Op("local.New")
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, fmt.Errorf("blob store %q: %w", dir, err))
	}
	s := &Store{dir: abs}

	_, statErr := os.Stat(abs)
	if err := os.MkdirAll(abs, dirPerm); err != nil {
		return nil, s.fail(op, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// Make the new directory's own name durable.
		if err := syncDir(os.Open(filepath.Dir(abs))); err != nil {
			return nil, s.fail(op, err)
		}
	}

	s.root, err = os.OpenRoot(abs)
	if err != nil {
		return nil, s.fail(op, err)
	}
	if err := s.makeLayout(); err != nil {
		s.root.Close()
		return nil, s.fail(op, err)
	}
	return s, nil
}

func (s *Store) makeLayout() error {
	for _, d := range []string{dataDir, tmpDir} {
		fi, err := s.root.Lstat(d)
		if errors.Is(err, fs.ErrNotExist) {
			// A store whose layout exists opens without write permission: it can
			// still be read.
			if err := s.root.Mkdir(d, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			fi, err = s.root.Lstat(d)
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory (move it away; the store needs %s/ and %s/ as plain directories)", d, dataDir, tmpDir)
		}
	}
	return syncDir(s.root.Open("."))
}

// Close releases the store directory. Objects already open stay readable.
func (s *Store) Close() error {
	if err := s.root.Close(); err != nil {
		return s.fail("local.Close", err)
	}
	return nil
}

// Create starts a blob in a fresh temporary file under tmp/. It fails with
// errs.Exist at once if id is already committed, and Commit checks again.
func (s *Store) Create(ctx context.Context, id blob.ID) (blob.Writer, error) {
	const op = errs.Op("local.Create")
	if !id.Valid() {
		return nil, blob.InvalidID(op, id)
	}
	if err := ctx.Err(); err != nil {
		return nil, errs.E(op, errs.Canceled, err)
	}
	if err := s.checkAbsent(op, id); err != nil {
		return nil, err
	}
	tmp := path.Join(tmpDir, rand.Text())
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, s.fail(op, err)
	}
	return &writer{s: s, ctx: ctx, id: id, f: f, tmp: tmp}, nil
}

// checkAbsent returns errs.Exist if id is committed. Lstat, so that a symbolic link
// in place of a blob counts as present and is never replaced.
func (s *Store) checkAbsent(op errs.Op, id blob.ID) error {
	_, err := s.root.Lstat(blobPath(id))
	switch {
	case err == nil:
		return errs.E(op, errs.Exist, "blob "+string(id))
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return s.fail(op, err)
	}
}

// Open returns the committed blob id, read straight from its file.
func (s *Store) Open(ctx context.Context, id blob.ID) (blob.Object, error) {
	const op = errs.Op("local.Open")
	if !id.Valid() {
		return nil, blob.InvalidID(op, id)
	}
	if err := ctx.Err(); err != nil {
		return nil, errs.E(op, errs.Canceled, err)
	}
	f, err := s.root.Open(blobPath(id))
	if err != nil {
		return nil, s.failBlob(op, id, err)
	}
	fi, err := f.Stat()
	if err == nil {
		err = checkRegular(blobPath(id), fi)
	}
	if err != nil {
		f.Close()
		return nil, s.fail(op, err)
	}
	return &object{s: s, f: f, size: fi.Size()}, nil
}

// Stat returns the size of the committed blob id.
func (s *Store) Stat(ctx context.Context, id blob.ID) (int64, error) {
	const op = errs.Op("local.Stat")
	if !id.Valid() {
		return 0, blob.InvalidID(op, id)
	}
	if err := ctx.Err(); err != nil {
		return 0, errs.E(op, errs.Canceled, err)
	}
	fi, err := s.root.Stat(blobPath(id))
	if err != nil {
		return 0, s.failBlob(op, id, err)
	}
	if err := checkRegular(blobPath(id), fi); err != nil {
		return 0, s.fail(op, err)
	}
	return fi.Size(), nil
}

// checkRegular refuses anything but a plain file where a blob should be.
func checkRegular(name string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file (%v)", name, fi.Mode().Type())
	}
	return nil
}

// Delete removes the committed blob id; a missing blob is not an error. The removal
// is not fsynced: a blob that reappears after a crash is found again by the
// garbage collector.
func (s *Store) Delete(ctx context.Context, id blob.ID) error {
	const op = errs.Op("local.Delete")
	if !id.Valid() {
		return blob.InvalidID(op, id)
	}
	if err := ctx.Err(); err != nil {
		return errs.E(op, errs.Canceled, err)
	}
	if err := s.root.Remove(blobPath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return s.fail(op, err)
	}
	return nil
}

// List calls fn for every committed blob. Only well-formed entries are reported:
// anything else found under data/ (a stray file, a symbolic link) is skipped.
// fn may delete the blob it is given.
func (s *Store) List(ctx context.Context, fn func(blob.ID) error) error {
	const op = errs.Op("local.List")
	if err := ctx.Err(); err != nil {
		return errs.E(op, errs.Canceled, err)
	}
	d, err := s.root.Open(dataDir)
	if err != nil {
		return s.fail(op, err)
	}
	fanouts, err := d.ReadDir(-1) // at most 256 entries
	d.Close()
	if err != nil {
		return s.fail(op, err)
	}
	for _, e := range fanouts {
		if !e.IsDir() || !isFanout(e.Name()) {
			continue
		}
		if err := s.listFanout(ctx, op, e.Name(), fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) listFanout(ctx context.Context, op errs.Op, name string, fn func(blob.ID) error) error {
	d, err := s.root.Open(path.Join(dataDir, name))
	if err != nil {
		return s.fail(op, err)
	}
	defer d.Close()
	for {
		if err := ctx.Err(); err != nil {
			return errs.E(op, errs.Canceled, err)
		}
		entries, readErr := d.ReadDir(1024)
		for _, e := range entries {
			id := blob.ID(e.Name())
			if !e.Type().IsRegular() || !id.Valid() || string(id[:2]) != name {
				continue
			}
			if err := fn(id); err != nil {
				return err
			}
		}
		if readErr == io.EOF {
			return nil
		}
		if readErr != nil {
			return s.fail(op, readErr)
		}
	}
}

// CleanTemp removes temporary files not written to for olderThan: the leftovers of
// writes that a crash interrupted. Every Write updates its file's modification
// time, so a live write is removed only if it stalls for olderThan; at start-up,
// before any Create, olderThan may be 0. It returns how many files it removed.
func (s *Store) CleanTemp(olderThan time.Duration) (int, error) {
	const op = errs.Op("local.CleanTemp")
	d, err := s.root.Open(tmpDir)
	if err != nil {
		return 0, s.fail(op, err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return 0, s.fail(op, err)
	}
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // committed or aborted meanwhile
		}
		if err != nil {
			return removed, s.fail(op, err)
		}
		if fi.ModTime().After(cutoff) {
			continue
		}
		err = s.root.Remove(path.Join(tmpDir, e.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return removed, s.fail(op, err)
		}
		removed++
	}
	return removed, nil
}

// ensureFanout makes id's fan-out directory exist durably.
func (s *Store) ensureFanout(id blob.ID) error {
	b, _ := strconv.ParseUint(string(id[:2]), 16, 8) // id is Valid
	if s.fanoutSynced[b].Load() {
		return nil
	}
	if err := s.root.Mkdir(fanoutDir(id), dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	// Sync data/ even if the directory already existed: another writer or an earlier
	// run may have created it without its sync completing.
	if err := syncDir(s.root.Open(dataDir)); err != nil {
		return err
	}
	s.fanoutSynced[b].Store(true)
	return nil
}

func fanoutDir(id blob.ID) string { return path.Join(dataDir, string(id[:2])) }
func blobPath(id blob.ID) string  { return path.Join(dataDir, string(id[:2]), string(id)) }

// isFanout reports whether name is a fan-out directory's: two lower-case hex digits.
func isFanout(name string) bool {
	isHex := func(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }
	return len(name) == 2 && isHex(name[0]) && isHex(name[1])
}

// syncDir fsyncs the directory that open returned, making changes to its entries durable.
func syncDir(d *os.File, err error) error {
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// object is a committed blob open for reading.
type object struct {
	s    *Store
	f    *os.File
	size int64
}

func (o *object) ReadAt(p []byte, off int64) (int, error) {
	n, err := o.f.ReadAt(p, off)
	if err != nil && err != io.EOF {
		return n, o.s.fail("local.ReadAt", err)
	}
	return n, err
}

func (o *object) Size() int64 { return o.size }

func (o *object) Close() error {
	if err := o.f.Close(); err != nil {
		return o.s.fail("local.Close", err)
	}
	return nil
}
