package crypt

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/errs"
)

func TestCreateAndLoadKeyFile(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits on Windows")
	}
	dir := filepath.Join(t.TempDir(), "etc", "coffer")
	path := filepath.Join(dir, "keys")

	created, err := CreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{path, 0o600}, {dir, 0o700 | os.ModeDir}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != c.want {
			t.Errorf("%s has mode %v, want %v", c.path, fi.Mode(), c.want)
		}
	}

	loaded, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loaded.IDs(), created.IDs()) || len(loaded.IDs()) != 1 {
		t.Fatalf("loaded ids %v, created %v", loaded.IDs(), created.IDs())
	}
	header, payload := encrypt(t, created, []byte("kept"))
	if got, err := openAll(loaded, header, payload); err != nil || string(got) != "kept" {
		t.Fatalf("the loaded keyring does not open a file of the created one: %v", err)
	}

	before, _ := os.ReadFile(path)
	_, err = CreateKeyFile(path)
	wantKind(t, err, errs.Exist)
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("CreateKeyFile changed an existing key file")
	}
}

func TestLoadKeyFileRefusesOpenModes(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits on Windows")
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620, 0o602, 0o610} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "keys")
			if err := os.WriteFile(path, []byte(testKeyA+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadKeyFile(path)
			wantKind(t, err, errs.Permission)
			if !strings.Contains(err.Error(), "chmod 600 "+path) {
				t.Fatalf("error %q does not say to run chmod 600 %s", err, path)
			}
		})
	}
}

func TestLoadKeyFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing")
	_, err := LoadKeyFile(missing)
	wantKind(t, err, errs.NotFound)
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q does not name the file", err)
	}

	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("# keys\n"+testKeyA+"\ncoffer-kek-v1 89abcdef short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadKeyFile(bad)
	wantKind(t, err, errs.Invalid)
	if msg := err.Error(); !strings.Contains(msg, bad) || !strings.Contains(msg, "line 3") {
		t.Errorf("error %q does not name the file and line 3", msg)
	}

	_, err = LoadKeyFile(dir)
	wantKind(t, err, errs.Invalid)

	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("#\n", maxKeyFileSize)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = LoadKeyFile(big)
	wantKind(t, err, errs.Invalid)
}
