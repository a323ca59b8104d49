package sftpd_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/sftpd"
	"github.com/coffer-mft/coffer/internal/testenv"
	"github.com/coffer-mft/coffer/internal/testenv/syncbuf"
)

// A shared folder granted to a group appears at the top of the tree over SFTP too, with
// the grant's permissions enforced by the files layer.
func TestSharedFolderOverSFTP(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	ctx := context.Background()
	root := accounts.LocalAdmin("test")
	e.User(t, "lab", 0)
	e.User(t, "partner", 0)
	if _, err := e.Core.Accounts.CreateFolder(ctx, root, "Results", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Core.Accounts.CreateGroup(ctx, root, "partners"); err != nil {
		t.Fatal(err)
	}
	if err := e.Core.Accounts.SetMember(ctx, root, "partners", "partner", true); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.Core.Accounts.Grant(ctx, root, "Results", accounts.Grantee{User: "lab"}, authz.All))
	must(e.Core.Accounts.Grant(ctx, root, "Results", accounts.Grantee{Group: "partners"}, authz.List|authz.Read))

	lab, _ := e.login(t, "lab")
	must(put(t, lab, "/Results/run-1.csv", []byte("a,b\n1,2\n")))
	partner, _ := e.login(t, "partner")
	names := func(c *sftp.Client) string {
		fis, err := c.ReadDir("/")
		must(err)
		var n []string
		for _, fi := range fis {
			n = append(n, fi.Name())
		}
		return strings.Join(n, ",")
	}
	if got := names(partner); got != "Results" {
		t.Fatalf("partner's root: %q", got)
	}
	data, err := get(t, partner, "/Results/run-1.csv")
	if err != nil || string(data) != "a,b\n1,2\n" {
		t.Fatalf("partner reads the shared file: %q %v", data, err)
	}
	if err := put(t, partner, "/Results/forged.csv", []byte("x")); code(err) != fxPermission {
		t.Fatalf("partner wrote into a read-only share: %v", err)
	}
	if err := partner.Remove("/Results/run-1.csv"); code(err) != fxPermission {
		t.Fatalf("partner deleted from a read-only share: %v", err)
	}
	// Revoking the group's grant takes effect on the next request, on the same connection.
	must(e.Core.Accounts.Grant(ctx, root, "Results", accounts.Grantee{Group: "partners"}, 0))
	if _, err := partner.Stat("/Results/run-1.csv"); code(err) != fxNoSuchFile {
		t.Fatalf("after revocation: %v", err)
	}
}

// A public-key login is audited with the key's fingerprint.
func TestPublicKeyLoginAudited(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	ctx := context.Background()
	e.User(t, "kim", 0)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Core.Accounts.AddKey(ctx, accounts.LocalAdmin("test"), "kim", string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); err != nil {
		t.Fatal(err)
	}
	sc, _, err := e.sshDial(t, "kim", ssh.PublicKeys(signer))
	if err != nil {
		t.Fatalf("key login: %v", err)
	}
	// The server records the sign-in before it accepts any channel, so once a session
	// opens the record is there.
	sess, err := sc.NewSession()
	if err != nil {
		t.Fatalf("open session: %v", err)
	}
	sess.Close()
	sc.Close()
	recs, err := e.Core.DB.Q().AuditQuery(ctx, db.AuditFilter{Actor: "kim", Action: audit.ActLogin}, 10)
	if err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(signer.PublicKey())
	for _, r := range recs {
		if r.Result == audit.OK && r.Protocol == audit.SFTP && strings.Contains(r.Detail, fp) {
			return
		}
	}
	t.Fatalf("no audited SFTP key login with %s in %+v", fp, recs)
}

// A registered key refused because of the account (here: disabled) is audited with that
// reason, and neither as a wrong key nor as a failed sign-in of the account; the address
// scores one point with the defender. The server log says why too.
func TestRefusedKeyAuditedWithReason(t *testing.T) {
	t.Parallel()
	logs := &syncbuf.Buffer{}
	e := startWith(t, sftpd.Config{Log: slog.New(slog.NewTextHandler(logs, nil))}, func(e *testenv.Env, cfg *sftpd.Config) {
		cfg.Defender = e.Core.Defender
	})
	ctx := context.Background()
	admin := accounts.LocalAdmin("test")
	e.User(t, "lee", 0)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Core.Accounts.AddKey(ctx, admin, "lee", string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := e.Core.Accounts.UpdateUser(ctx, admin, "lee", accounts.UserUpdate{Disabled: &yes}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.sshDial(t, "lee", ssh.PublicKeys(signer)); err == nil {
		t.Fatal("a disabled account's key signed in")
	}
	e.stop() // every connection handled, its records written
	recs, err := e.Core.DB.Q().AuditQuery(ctx, db.AuditFilter{Actor: "lee", Action: audit.ActLogin}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var details []string
	for _, r := range recs {
		details = append(details, r.Detail)
	}
	if !slices.Contains(details, "publickey: account disabled") || slices.ContainsFunc(details, func(d string) bool { return strings.Contains(d, "no accepted key") }) {
		t.Fatalf("audited sign-ins: %q", details)
	}
	if n, err := e.Core.DB.Q().CountLoginFailures(ctx, "user", "lee", time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("failed sign-ins counted: %d %v", n, err)
	}
	// The client never had to prove it holds the key (SSH asks first): the address
	// scores, so that replaying a public key is banned in the end.
	if n, err := e.Core.DB.Q().DefenderScore(ctx, "127.0.0.1", time.Now().Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("the address scored %d (%v), want 1", n, err)
	}
	if !strings.Contains(logs.String(), `msg="sign-in refused" protocol=sftp user=lee`) || !strings.Contains(logs.String(), "account is disabled") {
		t.Fatalf("server log:\n%s", logs.String())
	}
}

// A download is counted for the tripwires when it opens, and audited with its bytes when
// it closes. The server answers the CLOSE before it commits the record, so the client's
// next request is what waits for it: here a Stat.
func TestDownloadAuditedAndCounted(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "dana", 0)
	c, _ := e.login(t, "dana")
	ctx := context.Background()
	data := make([]byte, 300<<10)
	rand.Read(data)
	if err := put(t, c, "/results.csv", data); err != nil {
		t.Fatal(err)
	}
	p := e.principal(t, "dana")
	hour := time.Now().Unix() / 3600
	filesBefore, _, err := e.Core.DB.Q().DownloadSums(ctx, p.UserID, hour-1, hour+1)
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Open("/results.csv")
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := e.Core.DB.Q().DownloadSums(ctx, p.UserID, hour-1, hour+1)
	if err != nil || n != filesBefore+1 {
		t.Errorf("after the open, %d files counted (%v); want %d", n, err, filesBefore+1)
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil || !bytes.Equal(buf.Bytes(), data) {
		t.Fatalf("read %d bytes, %v", buf.Len(), err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat("/"); err != nil {
		t.Fatal(err)
	}
	recs, err := e.Core.DB.Q().AuditQuery(ctx, db.AuditFilter{Actor: "dana", Action: audit.ActFileDownload}, 10)
	if err != nil || len(recs) != 1 {
		t.Fatalf("download records: %+v, %v; want one", recs, err)
	}
	if r := recs[0]; r.Result != audit.OK || r.Bytes != int64(len(data)) || r.Path != "/results.csv" || r.Protocol != audit.SFTP {
		t.Errorf("the download is audited as %+v", r)
	}
}
