package notify

import (
	"bytes"
	"context"
	"log/slog"
	"net/mail"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/testenv/syncbuf"
)

type fixture struct {
	db    *db.DB
	log   *syncbuf.Buffer
	audit *audit.Log
	box   *Outbox
	now   time.Time
}

// newOutbox is an outbox on a fresh database that sends through s, with a clock the
// test moves.
func newOutbox(t *testing.T, dsn string, s SMTP) *fixture {
	t.Helper()
	d := dbtest.Open(t, dsn)
	keys, err := crypt.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	a := audit.New(d, keys)
	if err := a.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.From == nil {
		s.From = &mail.Address{Name: "Coffer Tests", Address: "coffer@example.org"}
	}
	f := &fixture{db: d, log: &syncbuf.Buffer{}, audit: a, now: time.Now().Truncate(time.Second)}
	log := slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	p := DefaultPolicy()
	f.box = NewOutbox(d, keys, a, s, p, log)
	f.box.SetClock(func() time.Time { return f.now })
	return f
}

func smtpTo(m *Mailpit, tls string) SMTP {
	return SMTP{Host: "127.0.0.1", Port: m.Port, TLS: tls, RootCAs: m.Roots, Timeout: 10 * time.Second}
}

func (f *fixture) queued(t *testing.T) int64 {
	t.Helper()
	n, err := f.db.Q().CountMail(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (f *fixture) deliver(t *testing.T) int {
	t.Helper()
	n, err := f.box.Deliver(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestParseSMTPURL(t *testing.T) {
	for _, c := range []struct {
		url, want, tls, user, auth, err string
	}{
		{url: "smtps://alice@mail.example.org", want: "smtps://mail.example.org:465", tls: TLSImplicit, user: "alice", auth: "plain"},
		{url: "smtp://alice@mail.example.org:587?starttls=required&auth=login", want: "smtp://mail.example.org:587", tls: TLSStartTLS, user: "alice", auth: "login"},
		{url: "smtp://127.0.0.1:25?starttls=none", want: "smtp://127.0.0.1:25", tls: TLSNone, auth: "plain"},
		{url: "smtp://alice@127.0.0.1:25?starttls=none", err: "clear text"},
		{url: "smtps://alice:secret@mail.example.org", err: "password must not be in the URL"},
		{url: "http://mail.example.org", err: "scheme"},
		{url: "smtps://mail.example.org?starttls=none", err: "starttls= is for smtp://"},
		{url: "smtp://mail.example.org?auth=cram-md5", err: "auth must be"},
		{url: "smtp://mail.example.org?bcc=x", err: "unknown parameter"},
		{url: "smtp://mail.example.org:99999", err: "bad port"},
		{url: "smtp://mail.example.org/path", err: "no path"},
		{url: "smtp://mail.example.org?ca=/nonexistent", err: "CA file"},
	} {
		s, err := ParseSMTPURL(c.url)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errs.Is(errs.Invalid, err) {
				t.Errorf("%s: got %v, want an Invalid error with %q", c.url, err, c.err)
			}
			continue
		}
		if err != nil || s.String() != c.want || s.TLS != c.tls || s.Username != c.user || s.Auth != c.auth {
			t.Errorf("%s: got %+v, %v", c.url, s, err)
		}
	}
}

func TestHeaderInjectionRefused(t *testing.T) {
	f := newOutbox(t, dbtest.SQLiteDSN(t), SMTP{Host: "127.0.0.1", Port: 1})
	ctx := context.Background()
	for _, m := range []Message{
		{To: "bob@example.org", Subject: "hello\r\nBcc: eve@example.org", Text: "x"},
		{To: "bob@example.org", Subject: "hello\nBcc: eve@example.org", Text: "x"},
		{To: "bob@example.org", Subject: "hello\rBcc: eve@example.org", Text: "x"},
		{To: "bob@example.org", Subject: "tab\there", Text: "x"},
		{To: "bob@example.org", Subject: "line\u2028separator", Text: "x"},
		{To: "bob@example.org\r\nBcc: eve@example.org", Subject: "s", Text: "x"},
		{To: "bob@example.org, eve@example.org", Subject: "s", Text: "x"},
		{To: "Bob <bob@example.org>", Subject: "s", Text: "x"},
		{To: "bob@example.org", Subject: strings.Repeat("s", 401), Text: "x"},
		{To: "bob@example.org", Subject: "s"},
	} {
		err := f.db.Tx(ctx, func(q db.Q) error {
			_, err := f.box.Enqueue(ctx, q, "test", "", m)
			return err
		})
		if !errs.Is(errs.Invalid, err) {
			t.Errorf("%q / %q: got %v, want Invalid", m.To, m.Subject, err)
		}
	}
	if n := f.queued(t); n != 0 {
		t.Fatalf("%d mails queued", n)
	}
	for _, from := range []string{"Coffer\r\nBcc: eve@example.org <coffer@example.org>", "coffer@example.org\nBcc: eve@example.org", "Coffer <not an address>"} {
		if _, err := ParseFrom(from); !errs.Is(errs.Invalid, err) {
			t.Errorf("--mail-from %q: got %v, want Invalid", from, err)
		}
	}
	if a, err := ParseFrom(`"Coffer, Files" <coffer@example.org>`); err != nil || a.Name != "Coffer, Files" {
		t.Errorf("a display name with a comma: %v, %v", a, err)
	}
}

// TestDeliver sends through a real mail server with each way of securing the connection,
// with and without authentication.
func TestDeliver(t *testing.T) {
	for _, c := range []struct {
		name, tls, user string
	}{
		{"starttls+auth", TLSStartTLS, "alice"},
		{"implicit+auth", TLSImplicit, "alice"},
		{"starttls", TLSStartTLS, ""},
		{"plain", TLSNone, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			o := MailpitOptions{TLS: c.tls, User: c.user, Password: "pw-" + c.user}
			if c.tls == TLSNone {
				o.TLS = ""
			}
			mp := StartMailpit(t, o)
			s := smtpTo(mp, c.tls)
			s.Username, s.Password = c.user, "pw-"+c.user
			s.From = &mail.Address{Name: "Coffer <Files>, Ü", Address: "coffer@example.org"}
			f := newOutbox(t, dbtest.SQLiteDSN(t), s)
			subject := "Grüße <b>bold</b> \"quoted\""
			if err := f.box.Send(context.Background(), "bob@example.org", subject, "plain body\r\nBcc: eve@example.org\r\n.\r\nafter dot", "<p>html</p>"); err != nil {
				t.Fatal(err)
			}
			if n := f.deliver(t); n != 1 {
				t.Fatalf("sent %d, want 1; log: %s", n, f.log.String())
			}
			if n := f.queued(t); n != 0 {
				t.Fatalf("%d mails still queued after sending", n)
			}
			r := mp.Only(t)
			if r.Subject != subject || r.From.Name != s.From.Name || r.From.Address != "coffer@example.org" {
				t.Errorf("subject %q from %+v", r.Subject, r.From)
			}
			if len(r.To) != 1 || r.To[0].Address != "bob@example.org" || len(r.Bcc) != 0 || len(r.Headers["Bcc"]) != 0 {
				t.Errorf("recipients: to %+v bcc %+v headers %v", r.To, r.Bcc, r.Headers)
			}
			if !strings.Contains(r.Text, "Bcc: eve@example.org") || !strings.Contains(r.Text, "after dot") {
				t.Errorf("the body lost text: %q", r.Text)
			}
			if !strings.Contains(r.HTML, "<p>html</p>") {
				t.Errorf("html %q", r.HTML)
			}
		})
	}
}

// TestWrongPassword: a mail the server refuses to take stays queued.
func TestWrongPassword(t *testing.T) {
	mp := StartMailpit(t, MailpitOptions{TLS: TLSStartTLS, User: "alice", Password: "right"})
	s := smtpTo(mp, TLSStartTLS)
	s.Username, s.Password = "alice", "wrong"
	f := newOutbox(t, dbtest.SQLiteDSN(t), s)
	if err := f.box.Send(context.Background(), "bob@example.org", "s", "t", ""); err != nil {
		t.Fatal(err)
	}
	if n := f.deliver(t); n != 0 {
		t.Fatalf("sent %d with a wrong password", n)
	}
	if n := f.queued(t); n != 1 {
		t.Fatalf("%d queued, want the mail kept", n)
	}
	if len(mp.Messages(t)) != 0 {
		t.Fatal("the server took a mail without authentication")
	}
}

// TestNoSTARTTLS: a server that offers no STARTTLS gets no mail (nor the password).
func TestNoSTARTTLS(t *testing.T) {
	mp := StartMailpit(t, MailpitOptions{})
	f := newOutbox(t, dbtest.SQLiteDSN(t), smtpTo(mp, TLSStartTLS))
	if err := f.box.Send(context.Background(), "bob@example.org", "s", "t", ""); err != nil {
		t.Fatal(err)
	}
	if n := f.deliver(t); n != 0 || len(mp.Messages(t)) != 0 {
		t.Fatalf("sent %d in clear text although STARTTLS is required", n)
	}
	if !strings.Contains(f.log.String(), "trying again later") {
		t.Errorf("log: %s", f.log.String())
	}
}

// TestOutage: while the mail server is down mail waits, with growing waits between
// attempts; once it is up, everything queued is delivered, once.
func TestOutage(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		port := FreePort(t)
		f := newOutbox(t, dsn, SMTP{Host: "127.0.0.1", Port: port, TLS: TLSNone, Timeout: 5 * time.Second})
		ctx := context.Background()
		for i := range 3 {
			if err := f.box.Send(ctx, "bob"+strconv.Itoa(i)+"@example.org", "s"+strconv.Itoa(i), "t", ""); err != nil {
				t.Fatal(err)
			}
		}
		start := f.now
		var waits []time.Duration
		for range 3 {
			if n := f.deliver(t); n != 0 {
				t.Fatalf("sent %d while the server is down", n)
			}
			due, err := f.db.Q().DueMail(ctx, f.now.Add(24*time.Hour), 10)
			if err != nil || len(due) != 3 {
				t.Fatalf("queued: %d, %v", len(due), err)
			}
			waits = append(waits, due[0].NextTry.Sub(f.now))
			if n, err := f.box.Deliver(ctx); n != 0 || err != nil {
				t.Fatalf("a mail was tried again before its time: %d, %v", n, err)
			}
			f.now = due[0].NextTry
		}
		if waits[0] != time.Minute || waits[1] != 2*time.Minute || waits[2] != 4*time.Minute {
			t.Errorf("waits between attempts: %v, want 1m, 2m, 4m", waits)
		}
		if c := strings.Count(f.log.String(), "trying again later"); c != 9 {
			t.Errorf("%d warnings, want 9: %s", c, f.log.String())
		}
		mp := StartMailpit(t, MailpitOptions{Port: port})
		if n := f.deliver(t); n != 3 {
			t.Fatalf("sent %d after the outage, want 3", n)
		}
		if got := len(mp.Messages(t)); got != 3 || f.queued(t) != 0 {
			t.Fatalf("mailpit has %d, %d still queued", got, f.queued(t))
		}
		if f.now.Sub(start) > time.Hour {
			t.Fatal("test clock ran away")
		}
	})
}

// TestGiveUp: a mail still failing when its time is up is dropped, logged at ERROR with
// its id and the recipient's domain, and audited.
func TestGiveUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		f := newOutbox(t, dsn, SMTP{Host: "127.0.0.1", Port: FreePort(t), TLS: TLSNone, Timeout: 5 * time.Second})
		ctx := context.Background()
		if err := f.box.Send(ctx, "carol@Example.NET", "s", "t", ""); err != nil {
			t.Fatal(err)
		}
		due, err := f.db.Q().DueMail(ctx, f.now, 10)
		if err != nil || len(due) != 1 {
			t.Fatal(len(due), err)
		}
		id := due[0].ID
		f.deliver(t)
		f.now = f.now.Add(DefaultPolicy().GiveUpAfter - time.Second)
		f.deliver(t)
		if f.queued(t) != 1 {
			t.Fatal("given up before its time")
		}
		f.now = f.now.Add(time.Hour)
		f.deliver(t)
		if f.queued(t) != 0 {
			t.Fatal("still queued after its time")
		}
		log := f.log.String()
		var line string
		for l := range strings.Lines(log) {
			if strings.Contains(l, "giving up") {
				line = l
			}
		}
		if !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "mail="+id) || !strings.Contains(line, "domain=example.net") || strings.Contains(line, "carol") {
			t.Errorf("the log line: %q", line)
		}
		recs, err := f.db.Q().AuditQuery(ctx, db.AuditFilter{Action: audit.ActMailFailed}, 10)
		if err != nil || len(recs) != 1 {
			t.Fatalf("audit: %v, %v", recs, err)
		}
		r := recs[0]
		if r.Path != "/mail/"+id || r.Result != audit.Failed || !strings.Contains(r.Detail, "example.net") || !strings.Contains(r.Detail, "3 attempts") {
			t.Errorf("audit record %+v", r)
		}
	})
}

// TestSealedAtRest: the outbox holds no readable address, subject or body.
func TestSealedAtRest(t *testing.T) {
	f := newOutbox(t, dbtest.SQLiteDSN(t), SMTP{Host: "127.0.0.1", Port: 1})
	ctx := context.Background()
	if err := f.box.Send(ctx, "dave@example.org", "secret subject", "https://x/p/SECRETTOKEN", "<a>SECRETTOKEN</a>"); err != nil {
		t.Fatal(err)
	}
	due, err := f.db.Q().DueMail(ctx, f.now, 10)
	if err != nil || len(due) != 1 {
		t.Fatal(len(due), err)
	}
	m := due[0]
	for _, s := range []string{"dave", "secret subject", "SECRETTOKEN"} {
		if bytes.Contains(m.Header, []byte(s)) || bytes.Contains(m.Body, []byte(s)) {
			t.Errorf("%q is readable in the outbox", s)
		}
	}
	if m.RcptDomain != "example.org" {
		t.Errorf("domain %q", m.RcptDomain)
	}
	got, err := f.box.open(m)
	if err != nil || got.Subject != "secret subject" || got.To != "dave@example.org" {
		t.Fatalf("%+v, %v", got, err)
	}
	m.Body[len(m.Body)-1] ^= 1
	if _, err := f.box.open(m); err == nil {
		t.Fatal("an altered mail opened")
	}
}

// TestRecipientRefused: a mail whose recipient the server refuses for good (550 to RCPT
// TO) is given up at once, logged and audited, and the mails after it are still sent.
func TestRecipientRefused(t *testing.T) {
	mp := StartMailpit(t, MailpitOptions{Allowed: `@example\.org$`})
	f := newOutbox(t, dbtest.SQLiteDSN(t), smtpTo(mp, TLSNone))
	ctx := context.Background()
	for _, to := range []string{"nobody@example.net", "bob@example.org"} {
		if err := f.box.Send(ctx, to, "s", "t", ""); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.deliver(t); n != 1 {
		t.Fatalf("sent %d, want 1; log: %s", n, f.log.String())
	}
	if n := f.queued(t); n != 0 {
		t.Fatalf("%d mails still queued: the refused one is retried", n)
	}
	if r := mp.Only(t); len(r.To) != 1 || r.To[0].Address != "bob@example.org" {
		t.Fatalf("delivered %+v", r.To)
	}
	if !strings.Contains(f.log.String(), "giving up on a mail") {
		t.Errorf("no ERROR line for the refused mail: %s", f.log.String())
	}
	recs, err := f.db.Q().AuditQuery(ctx, db.AuditFilter{Action: audit.ActMailFailed}, 10)
	if err != nil || len(recs) != 1 || !strings.Contains(recs[0].Detail, "example.net") || !strings.Contains(recs[0].Detail, "1 attempts") {
		t.Fatalf("audit: %+v, %v", recs, err)
	}
}
