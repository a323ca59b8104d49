package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/jobs"
	"github.com/coffer-mft/coffer/internal/notify"
)

// MailEvery is how often the outbox job looks for mail that is due.
const MailEvery = 10 * time.Second

// openMail sets up the mail outbox and the parcel notifications when --smtp-url is set.
// Without it nothing is queued: parcels work, and their senders pass the links on.
func (c *Core) openMail(env func(string) string) error {
	mc := c.Config.Mail
	if mc.SMTPURL == "" {
		if mc.From != "" || mc.PasswordFile != "" {
			c.Log.Warn("--mail-from or --smtp-password-file is set but --smtp-url is not: no mail is sent")
		}
		return nil
	}
	s, err := notify.ParseSMTPURL(mc.SMTPURL)
	if err != nil {
		return err
	}
	if mc.From == "" {
		return errs.E(errs.Invalid, "--mail-from is required with --smtp-url: the sender of notifications, such as \"Coffer <coffer@example.org>\"")
	}
	if s.From, err = notify.ParseFrom(mc.From); err != nil {
		return err
	}
	if s.Password, err = smtpPassword(mc.PasswordFile, env); err != nil {
		return err
	}
	if err := s.Check(); err != nil {
		return err
	}
	if mc.PublicURL == "" {
		return errs.E(errs.Invalid, "--public-url is required with --smtp-url: the address people reach this server at, the base of the links in mails")
	}
	p := notify.DefaultPolicy()
	if mc.GiveUpAfter > 0 {
		p.GiveUpAfter = mc.GiveUpAfter
	}
	c.Mail = notify.NewOutbox(c.DB, c.Keys, c.Audit, s, p, c.Log)
	n, err := notify.NewParcels(c.Mail, mc.PublicURL)
	if err != nil {
		return err
	}
	c.Parcels.SetNotifier(n)
	if s.TLS == notify.TLSNone {
		c.Log.Warn("mail goes to the mail server in clear text (starttls=none): use it only for a relay on this host")
	}
	return nil
}

// smtpPassword reads the SMTP password from file, else from COFFER_SMTP_PASSWORD.
func smtpPassword(file string, env func(string) string) (string, error) {
	if file == "" {
		return env("COFFER_SMTP_PASSWORD"), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", errs.E(errs.Invalid, fmt.Errorf("--smtp-password-file: %w", unwrapPath(err)))
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// mailJobs is the outbox's job, when mail is configured.
func (c *Core) mailJobs() []jobs.Job {
	if c.Mail == nil {
		return nil
	}
	return []jobs.Job{{Name: "mail.send", Every: MailEvery, Run: c.sendMail}}
}

func (c *Core) sendMail(ctx context.Context) error {
	_, err := c.Mail.Deliver(ctx)
	return err
}
