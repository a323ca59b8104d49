package local_test

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/blob/blobtest"
	"github.com/coffer-mft/coffer/internal/blob/local"
	"github.com/coffer-mft/coffer/internal/errs"
)

func TestConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t, t.TempDir()) })
}

func newStore(t testing.TB, dir string) *local.Store {
	t.Helper()
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s blob.Store, id blob.ID, data []byte) {
	t.Helper()
	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(); err != nil {
		t.Fatal(err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestNewCreatesMissingDirectory(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "store")
	newStore(t, dir)
	if got := dirNames(t, dir); !slices.Equal(got, []string{"data", "tmp"}) {
		t.Errorf("store directory holds %v, want [data tmp]", got)
	}
}

func TestNoTempFileLeft(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	tmp := filepath.Join(dir, "tmp")
	id := blob.NewID()

	w, err := s.Create(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("aborted"))
	if got := dirNames(t, tmp); len(got) != 1 {
		t.Fatalf("tmp/ holds %v while writing, want one file", got)
	}
	w.Abort()
	if got := dirNames(t, tmp); len(got) != 0 {
		t.Errorf("tmp/ holds %v after Abort", got)
	}

	put(t, s, id, []byte("committed"))
	if got := dirNames(t, tmp); len(got) != 0 {
		t.Errorf("tmp/ holds %v after Commit", got)
	}

	// A Commit that fails because the blob exists discards its file too.
	w1, _ := s.Create(t.Context(), blob.NewID())
	w2, _ := s.Create(t.Context(), blob.NewID())
	w1.Write([]byte("x"))
	w2.Write([]byte("y"))
	w1.Commit()
	w2.Commit()
	if got := dirNames(t, tmp); len(got) != 0 {
		t.Errorf("tmp/ holds %v after Commits", got)
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "store")
	s := newStore(t, dir)
	id := blob.NewID()
	put(t, s, id, []byte("secret"))

	w, _ := s.Create(t.Context(), blob.NewID())
	defer w.Abort()
	tmpFiles := dirNames(t, filepath.Join(dir, "tmp"))
	if len(tmpFiles) != 1 {
		t.Fatalf("tmp/ holds %v, want one file", tmpFiles)
	}

	for name, want := range map[string]fs.FileMode{
		"":                                    fs.ModeDir | 0o700,
		"data":                                fs.ModeDir | 0o700,
		"tmp":                                 fs.ModeDir | 0o700,
		filepath.Join("data", string(id[:2])): fs.ModeDir | 0o700,
		filepath.Join("data", string(id[:2]), string(id)): 0o600,
		filepath.Join("tmp", tmpFiles[0]):                 0o600,
	} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s/ has mode %v, want %v", name, fi.Mode(), want)
		}
	}
}

func TestCleanTemp(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)

	stale, _ := s.Create(t.Context(), blob.NewID())
	stale.Write([]byte("left by a crash"))
	staleName := dirNames(t, filepath.Join(dir, "tmp"))[0]
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "tmp", staleName), old, old); err != nil {
		t.Fatal(err)
	}
	liveID := blob.NewID()
	live, _ := s.Create(t.Context(), liveID)
	live.Write([]byte("still being written"))

	n, err := s.CleanTemp(time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("CleanTemp = %d, %v; want 1, nil", n, err)
	}
	if got := dirNames(t, filepath.Join(dir, "tmp")); len(got) != 1 || got[0] == staleName {
		t.Errorf("tmp/ holds %v after CleanTemp, want only the live file", got)
	}
	if err := stale.Commit(); err == nil {
		t.Errorf("Commit of a writer whose file CleanTemp removed succeeded")
	}
	if err := live.Commit(); err != nil {
		t.Errorf("Commit of the live writer: %v", err)
	}
	if n, err := s.CleanTemp(0); n != 0 || err != nil {
		t.Errorf("CleanTemp of an empty tmp/ = %d, %v", n, err)
	}
}

func TestListSkipsStrangers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newStore(t, dir)
	id := blob.ID("ab" + blob.NewID()[2:])
	put(t, s, id, []byte("x"))
	misplaced := blob.ID("cd" + blob.NewID()[2:])
	for _, name := range []string{
		"data/zz/" + string(blob.NewID()),
		"data/ab/not-a-blob",
		"data/ab/" + string(misplaced),
		"data/stray",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var got []blob.ID
	s.List(t.Context(), func(id blob.ID) error { got = append(got, id); return nil })
	if !slices.Equal(got, []blob.ID{id}) {
		t.Errorf("List = %v, want [%s]", got, id)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	s, err := local.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	id := blob.NewID()
	put(t, s, id, []byte("kept"))
	o, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(t.Context(), blob.NewID()); err == nil {
		t.Errorf("Create after Close succeeded")
	}
	p := make([]byte, 4)
	if n, err := o.ReadAt(p, 0); string(p[:n]) != "kept" || (err != nil && err != io.EOF) {
		t.Errorf("ReadAt of an object opened before Close = %q, %v", p[:n], err)
	}
}

// A symbolic link planted inside the store cannot lead a read or a write outside it.
func TestSymlinkEscape(t *testing.T) {
	t.Parallel()
	id := blob.ID("ab" + blob.NewID()[2:])
	for _, tt := range []struct {
		name     string
		link     string // inside the store
		target   string // inside outside
		relative bool
	}{
		{"fan-out directory", "data/ab", "", false},
		{"fan-out directory, relative link", "data/ab", "", true},
		{"tmp directory", "tmp", "", false},
		{"blob file", "data/ab/" + string(id), string(id), false},
		{"blob file, relative link", "data/ab/" + string(id), string(id), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, outside := t.TempDir(), t.TempDir()
			secret := []byte("outside the store")
			if err := os.WriteFile(filepath.Join(outside, string(id)), secret, 0o600); err != nil {
				t.Fatal(err)
			}
			s := newStore(t, dir)

			link := filepath.Join(dir, tt.link)
			target := filepath.Join(outside, tt.target)
			if tt.relative {
				target, _ = filepath.Rel(filepath.Dir(link), target)
			}
			os.MkdirAll(filepath.Dir(link), 0o700)
			os.Remove(link)
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}

			if o, err := s.Open(t.Context(), id); err == nil {
				p := make([]byte, 100)
				n, _ := o.ReadAt(p, 0)
				o.Close()
				t.Errorf("Open through the link succeeded and read %q", p[:n])
			}
			if size, err := s.Stat(t.Context(), id); err == nil {
				t.Errorf("Stat through the link succeeded: %d", size)
			}
			throughLink := []blob.ID{id}
			if !strings.HasPrefix(tt.link, "data/ab/") {
				throughLink = append(throughLink, "ab"+blob.NewID()[2:])
			}
			for _, wid := range throughLink {
				w, err := s.Create(t.Context(), wid)
				if err != nil {
					continue
				}
				_, err = w.Write([]byte("written through a link"))
				if err == nil {
					err = w.Commit()
				}
				w.Abort()
				if err == nil {
					t.Errorf("writing %s through the link succeeded", wid)
				}
			}
			if !strings.HasPrefix(tt.link, "data/ab/") {
				// Deleting the link itself would be fine; following it is not.
				s.Delete(t.Context(), id)
			}

			if got := dirNames(t, outside); !slices.Equal(got, []string{string(id)}) {
				t.Errorf("outside directory holds %v, want only the file planted there", got)
			}
			if got, _ := os.ReadFile(filepath.Join(outside, string(id))); !bytes.Equal(got, secret) {
				t.Errorf("file outside the store changed to %q", got)
			}
		})
	}
}

// An unwritable store directory fails with a message that names the directory and
// says what to do; a store whose layout exists still serves reads. Root ignores
// permissions, so as root the checks run in a copy of this test binary as nobody.
func TestUnwritableDirectory(t *testing.T) {
	const envDir, envID = "COFFER_LOCAL_TEST_UNWRITABLE_DIR", "COFFER_LOCAL_TEST_UNWRITABLE_ID"
	if dir := os.Getenv(envDir); dir != "" {
		checkUnwritable(t, dir, blob.ID(os.Getenv(envID)))
		return
	}

	dir := t.TempDir()
	fresh, storeDir := filepath.Join(dir, "fresh"), filepath.Join(dir, "store")
	s := newStore(t, storeDir)
	id := blob.NewID()
	put(t, s, id, []byte("readable"))
	s.Close()
	if err := os.Mkdir(fresh, 0o700); err != nil {
		t.Fatal(err)
	}

	if os.Geteuid() != 0 {
		for _, d := range []string{fresh, storeDir, filepath.Join(storeDir, "tmp"), filepath.Join(storeDir, "data")} {
			os.Chmod(d, 0o500)
			t.Cleanup(func() { os.Chmod(d, 0o700) })
		}
		checkUnwritable(t, dir, id)
		return
	}

	// Let nobody reach and read, but not write, everything under dir.
	const nobody = 65534
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o755)
		} else {
			os.Chmod(p, 0o644)
		}
		return nil
	})
	os.Chmod(filepath.Dir(dir), 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	bin := filepath.Join(dir, "local.test")
	if data, err := os.ReadFile(self); err != nil {
		t.Skip(err)
	} else if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestUnwritableDirectory$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envDir+"="+dir, envID+"="+string(id))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Skipf("cannot run the test as nobody: %v", err)
		}
		t.Errorf("as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "--- PASS: TestUnwritableDirectory") {
		t.Errorf("as nobody, the test did not pass:\n%s", out)
	}
	t.Logf("as nobody:\n%s", out)
}

func checkUnwritable(t *testing.T, dir string, id blob.ID) {
	wantClear := func(err error, dir string, what string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s succeeded in an unwritable directory", what)
		}
		msg := err.Error()
		if errs.KindOf(err) != errs.Other || !strings.Contains(msg, dir) ||
			!strings.Contains(msg, "permission denied") || !strings.Contains(msg, "writable by the user running coffer") {
			t.Errorf("%s: error %q (kind %v) does not say which directory, what went wrong and what to do", what, msg, errs.KindOf(err))
		}
		t.Logf("%s: %v", what, err)
	}

	fresh := filepath.Join(dir, "fresh")
	_, err := local.New(fresh)
	wantClear(err, fresh, "New")

	storeDir := filepath.Join(dir, "store")
	s, err := local.New(storeDir)
	if err != nil {
		t.Fatalf("New of a read-only store with its layout: %v", err)
	}
	defer s.Close()
	_, err = s.Create(t.Context(), blob.NewID())
	wantClear(err, storeDir, "Create")

	o, err := s.Open(t.Context(), id)
	if err != nil {
		t.Fatalf("Open in a read-only store: %v", err)
	}
	defer o.Close()
	p := make([]byte, o.Size())
	if _, err := o.ReadAt(p, 0); err != nil && err != io.EOF || string(p) != "readable" {
		t.Errorf("ReadAt in a read-only store = %q, %v", p, err)
	}
}

func BenchmarkLocalWrite(b *testing.B) {
	const size, piece = 256 << 20, 256 << 10
	s := newStore(b, b.TempDir())
	buf := make([]byte, piece)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.SetBytes(size)
	for b.Loop() {
		id := blob.NewID()
		w, err := s.Create(b.Context(), id)
		if err != nil {
			b.Fatal(err)
		}
		for range size / piece {
			if _, err := w.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Commit(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Delete(b.Context(), id)
		b.StartTimer()
	}
}
