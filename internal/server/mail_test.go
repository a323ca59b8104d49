package server

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/jobs"
)

// TestMailConfig: the mail settings are checked at start, with a sentence saying what to
// fix; a good set wires the outbox, its job and the parcels' notifier.
func TestMailConfig(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := config.Mail{SMTPURL: "smtps://coffer@mail.example.org", From: "Coffer <coffer@example.org>", PublicURL: "https://files.example.org"}
	for _, c := range []struct {
		name string
		mail func(*config.Mail)
		env  map[string]string
		err  string
	}{
		{name: "none", mail: func(m *config.Mail) { *m = config.Mail{} }},
		{name: "good", mail: func(*config.Mail) {}, env: map[string]string{"COFFER_SMTP_PASSWORD": "pw"}},
		{name: "password file", mail: func(m *config.Mail) { m.PasswordFile = pwFile }},
		{name: "no password", mail: func(*config.Mail) {}, err: "COFFER_SMTP_PASSWORD"},
		{name: "no from", mail: func(m *config.Mail) { m.From = "" }, env: map[string]string{"COFFER_SMTP_PASSWORD": "pw"}, err: "--mail-from is required"},
		{name: "bad from", mail: func(m *config.Mail) { m.From = "Coffer\r\nBcc: x@example.org <c@example.org>" }, env: map[string]string{"COFFER_SMTP_PASSWORD": "pw"}, err: "--mail-from"},
		{name: "no public url", mail: func(m *config.Mail) { m.PublicURL = "" }, env: map[string]string{"COFFER_SMTP_PASSWORD": "pw"}, err: "--public-url is required"},
		{name: "bad public url", mail: func(m *config.Mail) { m.PublicURL = "files.example.org" }, env: map[string]string{"COFFER_SMTP_PASSWORD": "pw"}, err: "--public-url"},
		{name: "password in url", mail: func(m *config.Mail) { m.SMTPURL = "smtps://coffer:pw@mail.example.org" }, err: "must not be in the URL"},
		{name: "auth in clear", mail: func(m *config.Mail) { m.SMTPURL = "smtp://coffer@mail.example.org?starttls=none" }, err: "clear text"},
		{name: "missing password file", mail: func(m *config.Mail) { m.PasswordFile = pwFile + ".none" }, err: "--smtp-password-file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := good
			c.mail(&m)
			cfg := config.Config{DataDir: t.TempDir(), Mail: m}
			core, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(k string) string { return c.env[k] })
			if c.err != "" {
				if err == nil || !errs.Is(errs.Invalid, err) || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %v, want an Invalid error with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer core.Close()
			hasJob := slices.ContainsFunc(core.jobs(0), func(j jobs.Job) bool { return j.Name == "mail.send" })
			if configured := m.SMTPURL != ""; (core.Mail != nil) != configured || hasJob != configured || (core.Parcels.Notifier() != nil) != configured {
				t.Fatalf("mail configured %v: outbox %v, job %v, notifier %v", configured, core.Mail != nil, hasJob, core.Parcels.Notifier() != nil)
			}
		})
	}
}
