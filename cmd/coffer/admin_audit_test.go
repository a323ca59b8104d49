package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" driver, to tamper with the log as an attacker would
)

var intactLine = regexp.MustCompile(`^audit log intact: (\d+) records, head seq (\d+) hash ([0-9a-f]{64})\n$`)

// verifyIntact runs audit verify, expects an intact log and returns its record count.
func verifyIntact(t *testing.T, c *cli) int {
	t.Helper()
	code, stdout, stderr := c.run("", "audit", "verify")
	if code != exitOK {
		t.Fatalf("audit verify: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	m := intactLine.FindStringSubmatch(stdout)
	if m == nil || m[1] != m[2] {
		t.Fatalf("audit verify: unexpected report %q", stdout)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// tamper rewrites record 1 behind Coffer's back.
func tamper(t *testing.T, driver, dsn string) {
	t.Helper()
	d, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	res, err := d.Exec(`UPDATE audit_log SET actor = 'mallory' WHERE seq = 1`)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tampering changed %d records, want 1", n)
	}
}

// checkTampered expects audit verify to find record 1 altered.
func checkTampered(t *testing.T, c *cli) {
	t.Helper()
	code, stdout, stderr := c.run("", "audit", "verify")
	if code != exitFailure {
		t.Fatalf("audit verify of a tampered log: exit %d, want %d\nstdout: %s\nstderr: %s", code, exitFailure, stdout, stderr)
	}
	if !strings.Contains(stdout, "DAMAGED") || !strings.Contains(stdout, "record 1 ") {
		t.Errorf("audit verify does not name record 1: %q", stdout)
	}
}

func TestAuditVerify(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.script([]step{
		{args: a("user", "add", "alice")},
		{args: a("group", "add", "ops")},
		{args: a("user", "add", "alice"), code: exitFailure}, // failures are audited too
	})
	if n := verifyIntact(t, c); n < 3 {
		t.Errorf("audit verify counted %d records, want at least 3", n)
	}
	tamper(t, "sqlite", filepath.Join(c.dir, "coffer.db"))
	checkTampered(t, c)
}

func TestAuditExport(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.script([]step{
		{args: a("user", "add", "alice")},
		{args: a("folder", "add", "reports")},
		{args: a("grant", "reports", "--user", "alice", "--perm", "read")},
	})
	n := verifyIntact(t, c)

	code, stdout, stderr := c.run("", "audit", "export")
	if code != exitOK {
		t.Fatalf("audit export: exit %d: %s", code, stderr)
	}
	checkJSONLines(t, stdout, n)
	if !strings.Contains(stderr, "exported "+strconv.Itoa(n)+" records") {
		t.Errorf("audit export: stderr %q lacks the count", stderr)
	}

	out := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(out, []byte("old contents\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.script([]step{{args: a("audit", "export", "--out", out, "--since", "2020-01-02"), errOut: a("to " + out)}})
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	checkJSONLines(t, string(data), n)
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("exported file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*tmp*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	c.script([]step{
		{args: a("audit", "export", "--since", "2999-01-01T00:00:00Z"), errOut: a("exported 0 records")},
		{args: a("audit", "export", "--since", "last tuesday"), code: exitUsage, errOut: a("bad time")},
		{args: a("audit", "export", "--out", filepath.Join(t.TempDir(), "no", "such", "dir", "x.jsonl")), code: exitFailure, errOut: a("cannot export")},
	})
}

func checkJSONLines(t *testing.T, text string, want int) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(text))
	var seq int64
	for sc.Scan() {
		var rec struct {
			Seq    int64  `json:"seq"`
			Action string `json:"action"`
			Hash   string `json:"hash"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d is not JSON: %v: %q", seq+1, err, sc.Text())
		}
		if rec.Seq != seq+1 || rec.Action == "" || len(rec.Hash) != 64 {
			t.Errorf("record %d: unexpected %+v", seq+1, rec)
		}
		seq = rec.Seq
	}
	if seq != int64(want) {
		t.Errorf("exported %d records, want %d", seq, want)
	}
}

func TestAuditList(t *testing.T) {
	t.Parallel()
	c := newCLI(t, "")
	c.script([]step{
		{args: a("user", "add", "alice")},
		{args: a("user", "add", "bob")},
		{args: a("group", "add", "ops")},
	})
	actor := "local:" + osUserName()
	c.script([]step{
		{args: a("audit", "list"), out: a("SEQ", "ACTION", "user.create", "group.create", actor, "cli local")},
		{args: a("audit", "list", "--action", "user.create", "--path", "bob"), out: a("bob")},
		{args: a("audit", "list", "--user", "nobody"), out: a("SEQ")},
		{args: a("audit", "list", "--limit", "0"), code: exitUsage, errOut: a("bad --limit")},
		{args: a("audit", "list", "--since", "yesterday"), code: exitUsage, errOut: a("bad time")},
	})
	_, stdout, _ := c.run("", "audit", "list", "--action", "user.create")
	if strings.Contains(stdout, "group.create") || strings.Index(stdout, "bob") > strings.Index(stdout, "alice") {
		t.Errorf("audit list --action: want only user.create, newest first:\n%s", stdout)
	}
	_, stdout, stderr := c.run("", "audit", "list", "--limit", "1")
	if strings.Count(stdout, "\n") != 2 || !strings.Contains(stderr, "--limit") {
		t.Errorf("audit list --limit 1: want a header and one record, and a note on stderr:\n%s%s", stdout, stderr)
	}
	// A client chooses the user name of a failed sign-in: the log must not let it
	// drive the administrator's terminal.
	c.core().Auth.Password(context.Background(), "evil\x1b[2Jname", "whatever password", client)
	_, stdout, _ = c.run("", "audit", "list", "--action", "login")
	if strings.Contains(stdout, "\x1b") || !strings.Contains(stdout, `evil\x1b[2Jname`) {
		t.Errorf("audit list prints control characters from the log raw:\n%q", stdout)
	}
}

// --out - is standard output, as for most tools; a file named - is ./-.
func TestAuditExportDashIsStdout(t *testing.T) {
	c := newCLI(t, "")
	t.Chdir(t.TempDir())
	n := verifyIntact(t, c)
	code, stdout, stderr := c.run("", "audit", "export", "--out", "-")
	if code != exitOK {
		t.Fatalf("audit export --out -: exit %d: %s", code, stderr)
	}
	checkJSONLines(t, stdout, n)
	if _, err := os.Stat("-"); err == nil {
		t.Errorf("audit export --out - wrote a file named -")
	}
	c.script([]step{{args: a("audit", "export", "--out", "./-"), errOut: a("to ./-")}})
	data, err := os.ReadFile("-")
	if err != nil {
		t.Fatal(err)
	}
	checkJSONLines(t, string(data), n)
	c.script([]step{{args: a("audit", "export", "--help"), out: a("(- is standard output)")}})
}
