package main

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/crypt"
)

// One command of every administration group, those that change things as well as
// those that only show them.
var everyGroup = [][]string{
	a("user", "add", "alice", "--quota", "10M"), a("user", "list"), a("user", "show", "x"), a("user", "passwd", "x"),
	a("user", "key", "list", "x"), a("user", "2fa", "show", "x"), a("user", "session", "list", "x"),
	a("group", "add", "staff"), a("group", "list"), a("folder", "add", "reports"), a("folder", "list"),
	a("grant", "list"), a("grant", "reports", "--user", "x", "--perm", "read"), a("revoke", "reports", "--user", "x"),
	a("token", "create", "x"), a("token", "list", "x"), a("audit", "verify"), a("audit", "export"), a("audit", "list"),
	a("unlock", "--ip", "192.0.2.1"), a("ban", "list"), a("ban", "lift", "192.0.2.1"),
	a("settings", "show"), a("settings", "require-2fa", "on"),
}

// refuses runs every command of everyGroup on c, with extra flags, and expects each to
// refuse with exit status 2 and one line on stderr that contains want.
func (c *cli) refuses(want string, extra ...string) {
	c.t.Helper()
	for _, args := range everyGroup {
		code, stdout, stderr := c.run("", append(append([]string{}, args...), extra...)...)
		name := strings.Join(args, " ")
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, want) {
			c.t.Errorf("coffer %s: exit %d, want %d and %q\nstdout: %s\nstderr: %s", name, code, exitUsage, want, stdout, stderr)
		}
		checkOneLine(c.t, name, stderr)
	}
}

// Only coffer serve sets a Coffer up. Every other command refuses a data directory,
// database or key that does not exist rather than make a new, empty Coffer with a key
// of its own that the running server never sees.
func TestCommandsDoNotSetUp(t *testing.T) {
	t.Parallel()
	t.Run("no data directory", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "typo")
		c := &cli{t: t, dir: dir, env: map[string]string{}}
		c.refuses("no Coffer data folder at " + dir + ": give the server's folder with --data DIR (or COFFER_DATA), or start the server once with coffer serve")
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a command created the data directory: %v", err)
		}
	})
	t.Run("empty data directory", func(t *testing.T) {
		t.Parallel()
		c := &cli{t: t, dir: t.TempDir(), env: map[string]string{}}
		c.refuses("no Coffer data folder at " + c.dir + " (no coffer.db there)")
		checkEmpty(t, c.dir)
	})
	t.Run("no key", func(t *testing.T) {
		t.Parallel()
		c := newCLI(t, "")
		kek := filepath.Join(c.dir, "coffer.kek")
		if err := os.Remove(kek); err != nil {
			t.Fatal(err)
		}
		c.refuses("no key-encryption key in the Coffer data folder " + c.dir + " (no coffer.kek there)")
		if _, err := os.Stat(kek); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a command created a new key: %v", err)
		}
		other := filepath.Join(t.TempDir(), "other.kek")
		c.refuses("no key-encryption key file at "+other, "--kek-file", other)
		if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a command created a new key: %v", err)
		}
	})
	t.Run("no database, key in the environment", func(t *testing.T) {
		t.Parallel()
		kr, err := crypt.NewKeyring()
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "elsewhere.db")
		c := &cli{t: t, dir: t.TempDir(), env: map[string]string{"COFFER_KEK": string(kr.Marshal())}}
		c.refuses("no Coffer database at "+file+": give the server's database with --db FILE (or COFFER_DB)", "--db", file)
		checkEmpty(t, c.dir)
		if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a command created the database: %v", err)
		}
	})
}

func checkEmpty(t *testing.T, dir string) {
	t.Helper()
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("%s holds %d entries after the refusals (%v), want none", dir, len(entries), err)
	}
}

// What the server set up elsewhere than in the data directory is found there: a key in
// COFFER_KEK or --kek-file, a database at --db. The commands then work.
func TestCommandsUseKeyAndDatabaseElsewhere(t *testing.T) {
	t.Parallel()
	kr, err := crypt.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	inline := &cli{t: t, dir: filepath.Join(t.TempDir(), "data"), env: map[string]string{"COFFER_KEK": string(kr.Marshal())}}
	setUp(t, config.Config{DataDir: inline.dir}, inline.getenv)
	inline.script([]step{
		{args: a("user", "add", "alice"), out: a(`created user "alice"`)},
		{args: a("user", "list"), out: a("alice")},
	})
	if _, err := os.Stat(filepath.Join(inline.dir, "coffer.kek")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a key file was written although the key is in COFFER_KEK: %v", err)
	}

	kek, dbFile := filepath.Join(t.TempDir(), "keys", "coffer.kek"), filepath.Join(t.TempDir(), "meta.db")
	if err := os.MkdirAll(filepath.Dir(kek), 0o700); err != nil {
		t.Fatal(err)
	}
	files := &cli{t: t, dir: filepath.Join(t.TempDir(), "data"), env: map[string]string{"COFFER_KEK_FILE": kek, "COFFER_DB": dbFile}}
	setUp(t, config.Config{DataDir: files.dir, KEKFile: kek, DSN: dbFile}, files.getenv)
	files.script([]step{
		{args: a("group", "add", "staff"), out: a(`created group "staff"`)},
		{args: a("group", "list"), out: a("staff")},
	})
}

// The administrator's repro: the server runs on srv/data, and a command typed in
// another directory without --data refused instead of making ./coffer-data.
func TestCommandWithoutDataFlag(t *testing.T) {
	t.Chdir(t.TempDir())
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	code := run(context.Background(), e, a("user", "add", "alice", "--quota", "10M"))
	cwd, _ := os.Getwd()
	want := "coffer: user add: no Coffer data folder at " + filepath.Join(cwd, "coffer-data") + ": give the server's folder with --data DIR (or COFFER_DATA), or start the server once with coffer serve to create one\n"
	if code != exitUsage || out.String() != "" || errOut.String() != want {
		t.Errorf("user add without --data: exit %d\nstdout: %s\nstderr: %q\nwant:   %q", code, out.String(), errOut.String(), want)
	}
	if _, err := os.Stat("coffer-data"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("user add without --data created ./coffer-data: %v", err)
	}
}
