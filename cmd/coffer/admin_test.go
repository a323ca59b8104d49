package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/server"
)

// cli runs coffer commands in-process against one data directory (and, with dsn, a
// PostgreSQL database), with an environment of its own.
type cli struct {
	t   *testing.T
	dir string
	dsn string
	env map[string]string
}

// newCLI returns a cli on a fresh data directory that has been set up as coffer serve
// sets it up on its first start (the administration commands refuse to).
func newCLI(t *testing.T, dsn string) *cli {
	t.Helper()
	c := &cli{t: t, dir: filepath.Join(t.TempDir(), "data"), dsn: dsn, env: map[string]string{}}
	setUp(t, config.Config{DataDir: c.dir, DSN: dsn}, c.getenv)
	return c
}

// setUp creates the data directory, database and key-encryption key of cfg as coffer
// serve does, with server.Open, and closes them again.
func setUp(t *testing.T, cfg config.Config, getenv func(string) string) {
	t.Helper()
	cfg.LogFormat, cfg.LogLevel = "text", "error"
	core, err := server.Open(context.Background(), cfg, slog.New(slog.DiscardHandler), getenv)
	if err != nil {
		t.Fatalf("setting up the data directory: %v", err)
	}
	newKey := core.NewKey
	if err := core.Close(); err != nil {
		t.Fatal(err)
	}
	if !newKey && getenv("COFFER_KEK") == "" {
		t.Fatalf("setting up %s made no new key-encryption key: it was not fresh", cfg.DataDir)
	}
}

func (c *cli) getenv(k string) string { return c.env[k] }

// run runs coffer with args and the storage flags, and returns the exit status and output.
func (c *cli) run(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "--data", c.dir, "--log-level", "error")
	if c.dsn != "" {
		args = append(args, "--db", c.dsn)
	}
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: c.getenv}
	code = run(context.Background(), e, args)
	return code, out.String(), errOut.String()
}

// columns is the padding between the columns of a table.
var columns = regexp.MustCompile(` {2,}`)

// step is one command of a script and what it must give.
type step struct {
	args   []string
	stdin  string
	code   int
	out    []string // substrings of stdout
	errOut []string // substrings of stderr
}

func a(args ...string) []string { return args }

// script runs steps in order. A failing command must explain itself in exactly one line
// on stderr that starts with "coffer: ".
func (c *cli) script(steps []step) {
	c.t.Helper()
	for _, s := range steps {
		code, stdout, stderr := c.run(s.stdin, s.args...)
		name := strings.Join(s.args, " ")
		if code != s.code {
			c.t.Fatalf("coffer %s: exit %d, want %d\nstdout: %s\nstderr: %s", name, code, s.code, stdout, stderr)
		}
		for _, want := range s.out {
			if !strings.Contains(stdout, want) && !strings.Contains(columns.ReplaceAllString(stdout, " "), want) {
				c.t.Errorf("coffer %s: stdout lacks %q:\n%s", name, want, stdout)
			}
		}
		for _, want := range s.errOut {
			if !strings.Contains(stderr, want) {
				c.t.Errorf("coffer %s: stderr lacks %q:\n%s", name, want, stderr)
			}
		}
		if code != exitOK {
			checkOneLine(c.t, name, stderr)
		}
	}
}

func checkOneLine(t *testing.T, name, stderr string) {
	t.Helper()
	if !strings.HasPrefix(stderr, "coffer: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("coffer %s: want one line starting with \"coffer: \" on stderr, got %q", name, stderr)
	}
	for _, leak := range []string{"goroutine", "*errs.Error", "accounts.", "panic"} {
		if strings.Contains(stderr, leak) {
			t.Errorf("coffer %s: stderr shows internals (%q): %q", name, leak, stderr)
		}
	}
}

// core opens the data directory the way the server does, to check what commands did.
func (c *cli) core() *server.Core {
	c.t.Helper()
	cfg := config.Config{DataDir: c.dir, DSN: c.dsn, LogFormat: "text", LogLevel: "error"}
	core, err := server.Open(context.Background(), cfg, slog.New(slog.DiscardHandler), c.getenv)
	if err != nil {
		c.t.Fatalf("opening the data directory: %v", err)
	}
	c.t.Cleanup(func() { core.Close() })
	return core
}

var client = auth.Client{IP: "192.0.2.1", Protocol: audit.HTTPS}

var passwordLine = regexp.MustCompile(`(?m)^password: (\S+)$`)

// generatedPassword finds the password a command printed, and checks it was printed once.
func generatedPassword(t *testing.T, stdout, stderr string) string {
	t.Helper()
	m := passwordLine.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("no password in the output:\n%s", stdout)
	}
	if n := strings.Count(stdout+stderr, m[1]); n != 1 {
		t.Errorf("the password is printed %d times, want once", n)
	}
	if !strings.Contains(stdout, "secure channel") {
		t.Errorf("no advice to hand the password over securely:\n%s", stdout)
	}
	return m[1]
}

func TestUserAddGeneratedPassword(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	code, stdout, stderr := c.run("", "user", "add", "alice", "--admin", "--quota", "10G")
	if code != exitOK {
		t.Fatalf("user add: exit %d: %s", code, stderr)
	}
	password := generatedPassword(t, stdout, stderr)
	core := c.core()
	p, err := core.Auth.Password(context.Background(), "alice", password, client)
	if err != nil || !p.Admin {
		t.Fatalf("signing in with the generated password: %+v, %v", p, err)
	}
	u, err := core.Accounts.User(context.Background(), p, "alice")
	if err != nil || u.QuotaBytes != 10<<30 {
		t.Errorf("quota = %d, %v; want 10 GiB", u.QuotaBytes, err)
	}

	// A new generated password replaces the old one.
	code, stdout, stderr = c.run("", "user", "passwd", "alice")
	if code != exitOK {
		t.Fatalf("user passwd: exit %d: %s", code, stderr)
	}
	second := generatedPassword(t, stdout, stderr)
	if _, err := core.Auth.Password(context.Background(), "alice", second, client); err != nil {
		t.Errorf("signing in with the new password: %v", err)
	}
	if _, err := core.Auth.Password(context.Background(), "alice", password, client); err == nil {
		t.Errorf("the old password still works")
	}
}

func TestUserPasswordStdin(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	const pw, pw2 = "correct horse battery staple", "another long passphrase"
	c.script([]step{
		{args: a("user", "add", "bob", "--password-stdin"), stdin: pw + "\r\n", out: a(`created user "bob"`)},
		{args: a("user", "passwd", "--password-stdin", "bob"), stdin: pw2 + "\nignored second line\n", out: a(`new password for "bob"`)},
		{args: a("user", "add", "carol", "--password-stdin"), stdin: "short\n", code: exitUsage, errOut: a("at least 12 characters")},
		{args: a("user", "add", "carol", "--password-stdin"), stdin: "", code: exitUsage, errOut: a("no password")},
		{args: a("user", "passwd", "bob", "--password-stdin"), stdin: "tiny", code: exitUsage, errOut: a("at least 12 characters")},
		{args: a("user", "passwd", "nobody", "--password-stdin"), stdin: pw, code: exitFailure, errOut: a(`no user named "nobody"`)},
	})
	for _, args := range [][]string{a("user", "add", "dave", "--password-stdin"), a("user", "passwd", "bob", "--password-stdin")} {
		_, stdout, stderr := c.run(pw2+"\n", args...)
		if strings.Contains(stdout+stderr, pw2) {
			t.Errorf("coffer %s prints the password it read", strings.Join(args, " "))
		}
	}
	core := c.core()
	if _, err := core.Auth.Password(context.Background(), "bob", pw2, client); err != nil {
		t.Errorf("signing in with the password from stdin: %v", err)
	}
	if _, err := core.Auth.Password(context.Background(), "carol", "short", client); err == nil {
		t.Errorf("carol exists")
	}
}

func TestUserCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.script(userSteps)
}

// userSteps is the user script, run on SQLite and on PostgreSQL.
var userSteps = []step{
	{args: a("user", "add", "alice", "--admin"), out: a(`created administrator "alice"`, "password: ")},
	{args: a("user", "add", "bob", "--quota", "500M"), out: a(`created user "bob" (quota 500 MiB)`)},
	{args: a("user", "add", "alice"), code: exitFailure, errOut: a(`cannot create user "alice"`, "exists")},
	{args: a("user", "add", "Bad Name!"), code: exitUsage, errOut: a("invalid user name")},
	{args: a("user", "add", "eve", "--quota", "lots"), code: exitUsage, errOut: a(`bad size "lots"`)},
	{args: a("user", "add"), code: exitUsage, errOut: a("missing arguments")},
	{args: a("user", "add", "x", "y"), code: exitUsage, errOut: a(`unexpected argument "y"`)},
	{args: a("user", "add", "x", "--bogus"), code: exitUsage, errOut: a("-bogus")},
	{args: a("user", "list"), out: a("NAME", "QUOTA", "alice", "bob", "500 MiB", "unlimited")},
	{args: a("user", "show", "bob"), out: a("name:", "bob", "administrator:", "no", "groups:", "none")},
	{args: a("user", "show", "nobody"), code: exitFailure, errOut: a(`no user named "nobody"`)},
	{args: a("user", "disable", "bob"), out: a(`disabled user "bob"`)},
	{args: a("user", "show", "bob"), out: a("disabled: yes")},
	{args: a("user", "enable", "bob"), out: a(`enabled user "bob"`)},
	{args: a("user", "disable", "alice"), code: exitFailure, errOut: a("last enabled administrator")},
	{args: a("user", "admin", "alice", "--off"), code: exitFailure, errOut: a("last enabled administrator")},
	{args: a("user", "admin", "bob"), code: exitUsage, errOut: a("--on and --off")},
	{args: a("user", "admin", "bob", "--on"), out: a("now an administrator")},
	{args: a("user", "admin", "alice", "--off"), out: a("no longer an administrator")},
	{args: a("user", "quota", "bob", "1.5GiB"), out: a("1.5 GiB")},
	{args: a("user", "quota", "bob", "unlimited"), out: a("unlimited")},
	{args: a("user", "quota", "bob", "-5"), code: exitUsage, errOut: a(`bad size "-5"`)},
	{args: a("user", "quota", "nobody", "5G"), code: exitFailure, errOut: a("nobody")},
	{args: a("user", "email", "bob", "bob@example.org"), out: a(`notifications of "bob" go to "bob@example.org"`)},
	{args: a("user", "email", "bob", "Bob <bob@example.org>"), code: exitUsage, errOut: a("not an e-mail address")},
	{args: a("user", "email", "bob", ""), out: a(`go to ""`)},
}

func TestGroupsFoldersGrants(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.script(groupSteps)
}

// groupSteps is the groups, folders and grants script, run on SQLite and on PostgreSQL.
var groupSteps = []step{
	{args: a("user", "add", "bob"), out: a("password: ")},
	{args: a("user", "add", "carol"), out: a("password: ")},
	{args: a("group", "add", "ops"), out: a(`created group "ops"`)},
	{args: a("group", "add", "ops"), code: exitFailure, errOut: a("exists")},
	{args: a("group", "add", "Not OK"), code: exitUsage, errOut: a("invalid group name")},
	{args: a("group", "member", "add", "ops", "bob"), out: a(`added "bob" to group "ops"`)},
	{args: a("group", "member", "add", "ops", "carol")},
	{args: a("group", "member", "add", "ops", "nobody"), code: exitFailure, errOut: a(`no user named "nobody"`)},
	{args: a("group", "member", "add", "nogroup", "bob"), code: exitFailure, errOut: a(`no group named "nogroup"`)},
	{args: a("group", "member", "remove", "ops", "carol"), out: a("removed")},
	{args: a("group", "member", "remove", "ops", "carol"), code: exitFailure, errOut: a("not a member")},
	{args: a("group", "list"), out: a("GROUP", "MEMBERS", "ops", "bob")},
	{args: a("folder", "add", "Reports Q1", "--quota", "1T"), out: a(`created shared folder "Reports Q1" (quota 1 TiB)`)},
	{args: a("folder", "add", "Reports Q1"), code: exitFailure, errOut: a("exists")},
	{args: a("folder", "add", " bad"), code: exitUsage, errOut: a("invalid folder name")},
	{args: a("folder", "quota", "Reports Q1", "2T"), out: a("2 TiB")},
	{args: a("folder", "quota", "nofolder", "2T"), code: exitFailure, errOut: a(`no shared folder named "nofolder"`)},
	{args: a("folder", "list"), out: a("FOLDER", "Reports Q1", "2 TiB")},
	{args: a("grant", "Reports Q1", "--user", "bob", "--perm", "list,bogus"), code: exitUsage, errOut: a(`unknown permission "bogus"`)},
	{args: a("grant", "Reports Q1", "--user", "bob"), code: exitUsage, errOut: a("missing --perm")},
	{args: a("grant", "Reports Q1", "--perm", "read"), code: exitUsage, errOut: a("exactly one of --user and --group")},
	{args: a("grant", "Reports Q1", "--user", "bob", "--group", "ops", "--perm", "read"), code: exitUsage, errOut: a("exactly one")},
	{args: a("grant", "Reports Q1", "--user", "bob", "--perm", "none"), code: exitUsage, errOut: a("coffer revoke")},
	{args: a("grant", "Reports Q1", "--user", "bob", "--perm", "list,read"), out: a(`granted list,read on "Reports Q1" to user:bob`)},
	{args: a("grant", "Reports Q1", "--group", "ops", "--perm", "all"), out: a("granted list,read,write,delete")},
	{args: a("grant", "nofolder", "--group", "ops", "--perm", "all"), code: exitFailure, errOut: a(`no shared folder named "nofolder"`)},
	{args: a("grant", "list"), out: a("FOLDER", "GRANTEE", "Reports Q1", "user:bob", "list,read", "group:ops", "list,read,write,delete")},
	{args: a("grant", "list", "Reports Q1"), out: a("user:bob")},
	{args: a("grant", "list", "nofolder"), code: exitFailure, errOut: a("nofolder")},
	{args: a("user", "show", "bob"), out: a("groups:", "ops", "Reports Q1 (list,read,write,delete)")},
	{args: a("revoke", "Reports Q1", "--user", "bob"), out: a(`revoked the grant of user:bob on "Reports Q1"`)},
	{args: a("revoke", "Reports Q1", "--user", "bob"), code: exitFailure, errOut: a("has no grant")},
	{args: a("revoke", "Reports Q1"), code: exitUsage, errOut: a("exactly one")},
	{args: a("group", "delete", "ops"), out: a(`deleted group "ops"`)},
	{args: a("group", "delete", "ops"), code: exitFailure, errOut: a(`no group named "ops"`)},
	{args: a("grant", "list"), out: a("FOLDER")},
	{args: a("unlock", "--user", "bob"), out: a("account bob was not locked out")},
	{args: a("unlock", "--ip", "192.0.2.7"), out: a("address 192.0.2.7")},
	{args: a("unlock", "--ip", "not-an-address"), code: exitUsage, errOut: a("bad --ip")},
	{args: a("unlock"), code: exitUsage, errOut: a("exactly one of --user and --ip")},
}

func TestUnlockLiftsLockout(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.script([]step{{args: a("user", "add", "bob", "--password-stdin"), stdin: "the right password\n"}})
	core := c.core()
	ctx := context.Background()
	for range auth.DefaultPolicy.MaxUserFailures {
		core.Auth.Password(ctx, "bob", "the wrong password", client)
	}
	if _, err := core.Auth.Password(ctx, "bob", "the right password", client); err == nil {
		t.Fatal("bob is not locked out after repeated failures")
	}
	c.script([]step{{args: a("unlock", "--user", "bob"), out: a("unlocked account bob (it was locked until")}})
	if _, err := core.Auth.Password(ctx, "bob", "the right password", client); err != nil {
		t.Errorf("signing in after unlock: %v", err)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	testTokens(t, c)
}

func testTokens(t *testing.T, c *cli) {
	c.script([]step{{args: a("user", "add", "alice")}})
	code, stdout, stderr := c.run("", "token", "create", "alice", "--name", "ci job", "--expires", "48h")
	if code != exitOK {
		t.Fatalf("token create: exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "coffer_") {
		t.Fatalf("token create: stdout must be the token alone, got %q", stdout)
	}
	token := lines[0]
	if strings.Contains(stderr, token) || !strings.Contains(stderr, "shown only now") {
		t.Errorf("token create: stderr repeats the token or lacks the advice: %q", stderr)
	}
	core := c.core()
	p, err := core.Auth.Token(context.Background(), token, client)
	if err != nil || p.Name != "alice" {
		t.Fatalf("the printed token is not accepted: %+v, %v", p, err)
	}
	c.script([]step{
		{args: a("token", "list", "alice"), out: a("ID", p.TokenID, "ci job", "active")},
		{args: a("token", "create", "nobody"), code: exitFailure, errOut: a(`no user named "nobody"`)},
		{args: a("token", "create", "alice", "--expires", "soon"), code: exitUsage, errOut: a("bad lifetime")},
		{args: a("token", "create", "alice", "--expires", "5000d"), code: exitUsage, errOut: a("token lifetime")},
		{args: a("token", "revoke", p.TokenID), out: a("revoked token " + p.TokenID)},
		{args: a("token", "revoke", "nosuchtoken"), code: exitFailure, errOut: a(`no token "nosuchtoken"`)},
		{args: a("token", "list", "alice"), out: a("revoked")},
		{args: a("token", "list", "nobody"), code: exitFailure, errOut: a("nobody")},
	})
	if _, err := core.Auth.Token(context.Background(), token, client); err == nil {
		t.Errorf("a revoked token is still accepted")
	}
}

func TestHelpAndUsage(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "never-created")
	c := &cli{t: t, dir: dir, env: map[string]string{"COFFER_DATA": dir}}
	cases := []struct {
		args   []string
		code   int
		out    string
		errOut string
	}{
		{a("help"), exitOK, "Commands:", ""},
		{a("help", "user"), exitOK, "coffer user COMMAND", ""},
		{a("user", "--help"), exitOK, "passwd", ""},
		{a("user", "-h"), exitOK, "quota", ""},
		{a("user"), exitUsage, "", "coffer user COMMAND"},
		{a("user", "frobnicate"), exitUsage, "", `unknown command "user frobnicate"`},
		{a("frobnicate"), exitUsage, "", `unknown command "frobnicate"`},
		{a("user", "add", "--help"), exitOK, "--password-stdin", ""},
		{a("group", "member", "--help"), exitOK, "remove", ""},
		{a("group", "member", "add", "--help"), exitOK, "GROUP USER", ""},
		{a("grant", "--help"), exitOK, "coffer revoke", ""},
		{a("grant", "help"), exitOK, "--perm", ""},
		{a("revoke", "-h"), exitOK, "--group", ""},
		{a("token", "create", "--help"), exitOK, "TOKEN=$(coffer token create alice)", ""},
		{a("audit", "verify", "--help"), exitOK, "1 when it is damaged", ""},
		{a("unlock", "--help"), exitOK, "--ip", ""},
		{a("folder", "add", "--help"), exitOK, "Storage flags", ""},
	}
	for _, tc := range cases {
		var out, errOut bytes.Buffer
		code := run(context.Background(), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: c.getenv}, tc.args)
		stdout, stderr := out.String(), errOut.String()
		if code != tc.code || !strings.Contains(stdout, tc.out) || !strings.Contains(stderr, tc.errOut) {
			t.Errorf("coffer %s: exit %d (want %d)\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, stdout, stderr)
		}
	}
	for name, cmd := range adminCommands() {
		if cmd.summary == "" || cmd.run == nil {
			t.Errorf("command %q lacks a summary or a function", name)
		}
	}
	if _, err := os.Stat(c.dir); err == nil {
		t.Errorf("asking for help created the data directory")
	}
}

// The subcommands that 'coffer help' names in a command's summary exist: the verbs
// listed at its start ("verify, export and list the audit log") or in parentheses
// ("(add, list, show...)"), for the commands whose summaries list subcommands.
func TestHelpNamesRealSubcommands(t *testing.T) {
	t.Parallel()
	lists := map[string]*regexp.Regexp{
		"audit":    regexp.MustCompile(`^(.*) the audit log$`),
		"token":    regexp.MustCompile(`^(.*) API tokens$`),
		"ban":      regexp.MustCompile(`^(.*) bans `),
		"user":     regexp.MustCompile(`\((.*)\.\.\.\)`),
		"settings": regexp.MustCompile(`\((.*)\)`),
	}
	var usageText strings.Builder
	usage(&usageText)
	for name, cmd := range adminCommands() {
		if !strings.Contains(usageText.String(), cmd.summary) {
			t.Errorf("coffer help lacks the summary of %s: %q", name, cmd.summary)
		}
		re := lists[name]
		if re == nil {
			continue
		}
		m := re.FindStringSubmatch(cmd.summary)
		if m == nil {
			t.Errorf("the summary of %s lists no subcommands: %q", name, cmd.summary)
			continue
		}
		for _, v := range strings.FieldsFunc(strings.ReplaceAll(m[1], " and ", ","), func(r rune) bool { return r == ',' || r == ' ' }) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}, a(name, v, "--help"))
			if code != exitOK || !strings.HasPrefix(out.String(), "Usage: coffer "+name+" "+v) {
				t.Errorf("coffer help says %q, but coffer %s %s --help: exit %d, stderr %q", cmd.summary, name, v, code, errOut.String())
			}
		}
	}
}

// Flags of the commands themselves come only from the command line, never from the
// environment: COFFER_ADMIN=1 must not make administrators.
func TestCommandFlagsIgnoreEnvironment(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.env["COFFER_ADMIN"] = "true"
	c.env["COFFER_QUOTA"] = "5G"
	c.script([]step{
		{args: a("user", "add", "bob"), out: a(`created user "bob" (quota unlimited)`)},
	})
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(c.dir, moved); err != nil {
		t.Fatal(err)
	}
	// The storage flags do come from the environment and a config file.
	conf := filepath.Join(t.TempDir(), "coffer.conf")
	if err := os.WriteFile(conf, []byte("data = "+moved+"\nhttp = :9443\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string {
		return map[string]string{"COFFER_CONFIG": conf, "COFFER_LOG_LEVEL": "error"}[k]
	}}
	if code := run(context.Background(), e, a("user", "list")); code != exitOK || !strings.Contains(out.String(), "bob") {
		t.Errorf("user list with the data directory from a config file: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}

func TestBadDataDir(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &cli{t: t, dir: file, env: map[string]string{}}
	code, _, stderr := c.run("", "user", "list")
	if code != exitFailure && code != exitUsage {
		t.Errorf("user list on a regular file: exit %d", code)
	}
	checkOneLine(t, "user list", stderr)
	if !strings.Contains(stderr, file) || !strings.Contains(stderr, "data directory") {
		t.Errorf("the message does not name the data directory: %q", stderr)
	}
}

func TestWrongKey(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.script([]step{{args: a("user", "add", "alice")}})
	kr, err := crypt.LoadKeyFile(filepath.Join(c.dir, "coffer.kek"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := crypt.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	c.env["COFFER_KEK"] = string(other.Marshal())
	for _, args := range [][]string{a("user", "list"), a("user", "add", "mallory")} {
		code, stdout, stderr := c.run("", args...)
		if code == exitOK || stdout != "" {
			t.Errorf("coffer %s with the wrong key: exit %d, stdout %q", strings.Join(args, " "), code, stdout)
		}
		checkOneLine(t, strings.Join(args, " "), stderr)
		if !strings.Contains(stderr, "wrong key") && !strings.Contains(stderr, kr.PrimaryID()) {
			t.Errorf("the message neither says wrong key nor names key %s: %q", kr.PrimaryID(), stderr)
		}
		if strings.Contains(stderr, string(other.Marshal())) {
			t.Errorf("the message shows key material")
		}
	}
	code, _, stderr := c.run("", "audit", "verify")
	if code != exitUsage {
		t.Errorf("audit verify with the wrong key: exit %d (want %d, cannot check): %s", code, exitUsage, stderr)
	}
}
