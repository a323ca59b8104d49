package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/coffer-mft/coffer/internal/errs"
)

// Ways to secure the connection to the mail server.
const (
	TLSImplicit = "implicit" // smtps://: TLS from the first byte (port 465)
	TLSStartTLS = "starttls" // smtp://: STARTTLS, required: no mail goes out in clear text
	TLSNone     = "none"     // smtp://...?starttls=none: clear text, only without a password (a local relay)
)

// SMTP is how to reach the mail server (--smtp-url, docs/notify.md).
type SMTP struct {
	Host     string
	Port     int
	TLS      string // TLSImplicit, TLSStartTLS or TLSNone
	Username string // "" = no authentication
	Password string
	Auth     string         // "plain" (default) or "login"; both only over TLS
	RootCAs  *x509.CertPool // nil = the system's roots
	From     *mail.Address  // the sender of every mail (--mail-from)
	Timeout  time.Duration  // per connection and command; 0 = 30 s
}

// ParseSMTPURL parses --smtp-url:
//
//	smtps://USER@HOST:465                 implicit TLS
//	smtp://USER@HOST:587                  STARTTLS, required (the default for smtp://)
//	smtp://HOST:25?starttls=none          clear text to a local relay, without a password
//	...?auth=login                        LOGIN instead of PLAIN
//	...?ca=/path/ca.pem                   trust this CA (PEM) instead of the system's roots
//
// The password is never in the URL: pass it separately (COFFER_SMTP_PASSWORD or
// --smtp-password-file) into SMTP.Password.
func ParseSMTPURL(raw string) (SMTP, error) {
	bad := func(format string, a ...any) (SMTP, error) {
		return SMTP{}, errs.E(errs.Invalid, "--smtp-url: "+fmt.Sprintf(format, a...))
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("not a URL (write smtps://user@host:465 or smtp://user@host:587)")
	}
	s := SMTP{Host: u.Hostname(), Auth: "plain"}
	switch u.Scheme {
	case "smtps":
		s.TLS, s.Port = TLSImplicit, 465
	case "smtp":
		s.TLS, s.Port = TLSStartTLS, 587
	default:
		return bad("the scheme must be smtps:// (implicit TLS) or smtp:// (STARTTLS), not %q", u.Scheme)
	}
	if s.Host == "" {
		return bad("no host")
	}
	if p := u.Port(); p != "" {
		if s.Port, err = strconv.Atoi(p); err != nil || s.Port < 1 || s.Port > 65535 {
			return bad("bad port %q", p)
		}
	}
	if u.Path != "" && u.Path != "/" {
		return bad("a mail server URL has no path")
	}
	if u.User != nil {
		if _, set := u.User.Password(); set {
			return bad("the password must not be in the URL (it would show in process lists and logs): set COFFER_SMTP_PASSWORD or --smtp-password-file")
		}
		s.Username = u.User.Username()
	}
	for k, v := range u.Query() {
		val := v[len(v)-1]
		switch k {
		case "starttls":
			switch {
			case s.TLS == TLSImplicit:
				return bad("starttls= is for smtp://; smtps:// is TLS from the start")
			case val == "required":
			case val == "none":
				s.TLS = TLSNone
			default:
				return bad("starttls must be required or none, not %q", val)
			}
		case "auth":
			if val != "plain" && val != "login" {
				return bad("auth must be plain or login, not %q", val)
			}
			s.Auth = val
		case "ca":
			pem, err := os.ReadFile(val)
			if err != nil {
				return bad("cannot read the CA file: %v", err)
			}
			s.RootCAs = x509.NewCertPool()
			if !s.RootCAs.AppendCertsFromPEM(pem) {
				return bad("the CA file %s holds no PEM certificate", val)
			}
		default:
			return bad("unknown parameter %q (known: starttls, auth, ca)", k)
		}
	}
	if s.TLS == TLSNone && s.Username != "" {
		return bad("authentication without TLS would send the password in clear text: use smtps:// or STARTTLS")
	}
	return s, nil
}

// Check reports what is missing for sending.
func (s SMTP) Check() error {
	switch {
	case s.From == nil:
		return errs.E(errs.Invalid, "--mail-from is required with --smtp-url (the sender of notifications)")
	case s.Username != "" && s.Password == "":
		return errs.E(errs.Invalid, "--smtp-url names a user but no password was given: set COFFER_SMTP_PASSWORD or --smtp-password-file")
	}
	return nil
}

func (s SMTP) String() string {
	scheme := "smtp"
	if s.TLS == TLSImplicit {
		scheme = "smtps"
	}
	return scheme + "://" + net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// conn is one connection to the mail server.
type conn struct {
	c    *gomail.Client
	from *mail.Address
}

// dial connects and authenticates.
func (s SMTP) dial(ctx context.Context) (*conn, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	opts := []gomail.Option{
		gomail.WithPort(s.Port),
		gomail.WithTimeout(timeout),
		gomail.WithTLSConfig(&tls.Config{ServerName: s.Host, RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}),
	}
	switch s.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSStartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if s.Username != "" {
		// PLAIN and LOGIN (not their -NOENC variants) refuse to run without TLS.
		auth := gomail.SMTPAuthPlain
		if s.Auth == "login" {
			auth = gomail.SMTPAuthLogin
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.Username), gomail.WithPassword(s.Password))
	}
	c, err := gomail.NewClient(s.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail server %s: %w", s, err)
	}
	if err := c.DialWithContext(ctx); err != nil {
		return nil, fmt.Errorf("mail server %s: %w", s, err)
	}
	return &conn{c: c, from: s.From}, nil
}

// send sends m as message id (its Message-ID names it, so that a mail sent twice after a
// crash can be told for a duplicate).
func (c *conn) send(id string, m Message) error {
	if err := m.Check(); err != nil {
		return err
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(c.from)
	if err := msg.To(m.To); err != nil {
		return errs.E(errs.Invalid, err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(id + "@" + c.from.Address[strings.LastIndexByte(c.from.Address, '@')+1:])
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return c.c.Send(msg)
}

func (c *conn) close() error { return c.c.Close() }
