// Package config reads Coffer's settings from, in order of precedence, command-line
// flags, COFFER_* environment variables, a config file, and built-in defaults. There is
// no package state: each command builds its own Config.
package config

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is everything `coffer serve` and the admin commands need to find their data.
type Config struct {
	DataDir         string
	DSN             string // "" means SQLite in DataDir
	KEKFile         string // "" means DataDir/coffer.kek
	Blobs           string // "" means the local store in DataDir/blobs; else an s3:// URL
	HTTPAddr        string
	TLSCert         string
	TLSKey          string
	SFTPAddr        string // "" or "off" disables SFTP
	SFTPHostKeys    string // "" means DataDir/ssh
	SFTP            SFTPLimits
	LogFormat       string
	LogLevel        string
	ShutdownTimeout time.Duration
	PartialTTL      time.Duration
	ProxyProtocol   string        // comma-separated addresses/prefixes of balancers that send PROXY headers
	Node            string        // this node's name in job leases and logs; "" = the host name
	JobLease        time.Duration // how long a node holds a periodic job without renewing
	UploadLease     time.Duration // how long a transfer holds a partial upload without renewing
	Tripwires       Tripwires
	ConfigFile      string
	AllowIPs        string // comma-separated addresses/prefixes that alone may connect; "" = all
	DenyIPs         string // comma-separated addresses/prefixes that may not connect
	AllowRoot       bool   // serve even when running as root
	Mail            Mail
}

// Mail is how notifications are e-mailed (docs/notify.md). Without SMTPURL nothing is.
type Mail struct {
	SMTPURL      string        // smtps://user@host:465 or smtp://user@host:587
	PasswordFile string        // the SMTP password; else COFFER_SMTP_PASSWORD
	From         string        // "Name <address>"
	PublicURL    string        // the base of the links in mails
	GiveUpAfter  time.Duration // how long a mail is retried
}

// Storage registers the flags that locate data: every command that opens the data
// directory has them.
func (c *Config) Storage(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data", "./coffer-data", "data `directory` (database, blobs, keys, certificates)")
	fs.StringVar(&c.DSN, "db", "", "metadata database: postgres://user:pass@host/db, or a SQLite file `path` (default: DATA/coffer.db)")
	fs.StringVar(&c.KEKFile, "kek-file", "", "key-encryption key `file` (default: DATA/coffer.kek); or set COFFER_KEK to the key itself")
	fs.StringVar(&c.Blobs, "blobs", "", "blob store `URL` for file contents: s3://BUCKET/PREFIX?endpoint=https://HOST:PORT&region=REGION&path-style=true\n"+
		"for S3 or a compatible server, with credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\n"+
		"(or AWS_PROFILE and ~/.aws/credentials), never in the URL; see docs/storage.md (default: the directory DATA/blobs)")
	fs.StringVar(&c.ConfigFile, "config", "", "config `file` of name = value lines, named like the flags")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// Serve registers the flags of the server itself.
func (c *Config) Serve(fs *flag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http", ":8443", "HTTPS listen `address`")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate `file` (PEM; default: a self-signed one generated into DATA/tls)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key `file` (PEM)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long transfers in progress may finish after SIGINT/SIGTERM")
	fs.DurationVar(&c.PartialTTL, "partial-ttl", 24*time.Hour, "how long an interrupted upload is kept for its owner to resume")
	fs.StringVar(&c.ProxyProtocol, "proxy-protocol", "", "comma-separated `addresses` or CIDR prefixes of load balancers that send the PROXY protocol\n"+
		"(v1 or v2) on the HTTPS and SFTP ports: their connections must start with it, and the client address\n"+
		"it names is the one logged, audited and locked out (docs/deploy.md)")
	fs.StringVar(&c.Node, "node", "", "this node's `name`, shown in job leases and logs (default: the host name)")
	fs.DurationVar(&c.JobLease, "job-lease", time.Minute, "how long a node holds a periodic job's lease without renewing it: when a node dies,\n"+
		"another takes over its jobs within this time (docs/deploy.md)")
	fs.DurationVar(&c.UploadLease, "upload-lease", 30*time.Second, "how long a transfer holds a partial upload without renewing it: when a node dies\n"+
		"during an upload, its client can resume on another node after at most this time")
	fs.StringVar(&c.Mail.SMTPURL, "smtp-url", "", "mail server `URL` for notifications: smtps://USER@HOST:465 (implicit TLS) or smtp://USER@HOST:587 (STARTTLS, required);\n"+
		"the password comes from COFFER_SMTP_PASSWORD or --smtp-password-file; default: no mail (docs/notify.md)")
	fs.StringVar(&c.Mail.PasswordFile, "smtp-password-file", "", "`file` holding the mail server's password (else COFFER_SMTP_PASSWORD)")
	fs.StringVar(&c.Mail.From, "mail-from", "", "sender of notifications: \"Name <`address`>\" or a bare address")
	fs.StringVar(&c.Mail.PublicURL, "public-url", "", "the `URL` people reach this server at (https://files.example.org): the base of links in mails")
	fs.DurationVar(&c.Mail.GiveUpAfter, "mail-give-up", 72*time.Hour, "how long a mail that cannot be sent is retried before it is dropped (logged and audited)")
	fs.StringVar(&c.AllowIPs, "allow-ip", "", "comma-separated client `addresses` or CIDR prefixes that alone may connect (default: all)")
	fs.StringVar(&c.DenyIPs, "deny-ip", "", "comma-separated client `addresses` or CIDR prefixes that may not connect")
	fs.BoolVar(&c.AllowRoot, "allow-root", false, "serve even when running as root (not recommended: run as an unprivileged user)")
	fs.StringVar(&c.SFTPAddr, "sftp", ":2022", "SFTP listen `address`, or off")
	fs.StringVar(&c.SFTPHostKeys, "sftp-host-keys", "", "`directory` of the SSH host keys (default: DATA/ssh; created on first start; share it between nodes)")
	fs.StringVar(&c.SFTP.Ciphers, "sftp-ciphers", "", "comma-separated `list` of SSH ciphers to offer (default: aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com);\n"+
		"a list starting with + adds to the defaults: +aes128-ctr,aes256-ctr admits clients without AES-GCM (docs/sftp.md, \"Older clients\")")
	fs.StringVar(&c.SFTP.MACs, "sftp-macs", "", "comma-separated `list` of SSH MACs to offer with non-AEAD ciphers (default: hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com);\n"+
		"+hmac-sha2-256,hmac-sha2-512 adds the older ones")
	fs.StringVar(&c.SFTP.KeyExchanges, "sftp-kex", "", "comma-separated `list` of SSH key exchanges to offer, a subset of the modern defaults (default: all)")
	fs.DurationVar(&c.SFTP.HandshakeTimeout, "sftp-handshake-timeout", 20*time.Second, "time a client has to sign in")
	fs.DurationVar(&c.SFTP.IdleTimeout, "sftp-idle-timeout", 15*time.Minute, "close an SFTP connection that sends nothing for this long")
	fs.IntVar(&c.SFTP.MaxSessions, "sftp-max-sessions", 500, "signed-in SFTP connections at most, in all")
	fs.IntVar(&c.SFTP.MaxSessionsPerUser, "sftp-max-sessions-per-user", 20, "signed-in SFTP connections at most per user")
	fs.IntVar(&c.SFTP.MaxUnauthenticated, "sftp-max-unauthenticated", 64, "SFTP connections not yet signed in, at most at once")
	c.tripwireFlags(fs)
}

// Parse parses args into fs, then fills every flag not given on the command line from
// the environment (COFFER_ + the flag name in upper case with - as _) and then from the
// config file (named by --config or COFFER_CONFIG). env is os.Getenv in production.
func Parse(fs *flag.FlagSet, args []string, env func(string) string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var ferr error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || ferr != nil {
			return
		}
		if v := env(EnvName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				ferr = fmt.Errorf("environment variable %s: %v", EnvName(f.Name), err)
			}
			given[f.Name] = true
		}
	})
	if ferr != nil {
		return ferr
	}
	cf := fs.Lookup("config")
	if cf == nil || cf.Value.String() == "" {
		return nil
	}
	values, err := readFile(cf.Value.String())
	if err != nil {
		return err
	}
	for name, v := range values {
		f := fs.Lookup(name.key)
		if f == nil {
			return fmt.Errorf("%s:%d: unknown setting %q (settings are named like the command's flags)", cf.Value.String(), name.line, name.key)
		}
		if given[name.key] {
			continue
		}
		if err := f.Value.Set(v); err != nil {
			return fmt.Errorf("%s:%d: %s: %v", cf.Value.String(), name.line, name.key, err)
		}
	}
	return nil
}

// EnvName is the environment variable that sets a flag: "tls-cert" → COFFER_TLS_CERT.
func EnvName(flagName string) string {
	return "COFFER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

type fileKey struct {
	key  string
	line int
}

// readFile reads "name = value" lines; blank lines and lines starting with # are ignored.
func readFile(path string) (map[fileKey]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config file: %w", err)
	}
	defer f.Close()
	out := map[fileKey]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: expected name = value", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		out[fileKey{strings.TrimSpace(k), n}] = v
	}
	return out, sc.Err()
}

// DBDSN is the database to open: the configured DSN or the SQLite file in the data dir.
func (c *Config) DBDSN() string {
	if c.DSN != "" {
		return c.DSN
	}
	return filepath.Join(c.DataDir, "coffer.db")
}

// KEKPath is the key file to use when COFFER_KEK is not set.
func (c *Config) KEKPath() string {
	if c.KEKFile != "" {
		return c.KEKFile
	}
	return filepath.Join(c.DataDir, "coffer.kek")
}

// BlobDir is where the local blob store keeps file contents when Blobs is "".
func (c *Config) BlobDir() string { return filepath.Join(c.DataDir, "blobs") }

// SFTPLimits are the SFTP server's algorithm choices and resource limits.
type SFTPLimits struct {
	Ciphers, MACs, KeyExchanges string // comma-separated; "" = the defaults; "+a,b" adds to them
	HandshakeTimeout            time.Duration
	IdleTimeout                 time.Duration
	MaxSessions                 int
	MaxSessionsPerUser          int
	MaxUnauthenticated          int
}

// List splits a comma-separated flag value, dropping empty items.
func List(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// SFTPHostKeyDir is where the SSH host keys are.
func (c *Config) SFTPHostKeyDir() string {
	if c.SFTPHostKeys != "" {
		return c.SFTPHostKeys
	}
	return filepath.Join(c.DataDir, "ssh")
}

// NodeName is this node's name: Node, else the host name.
func (c *Config) NodeName() string {
	if c.Node != "" {
		return c.Node
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "coffer"
}

// SFTPEnabled reports whether SFTP should listen.
func (c *Config) SFTPEnabled() bool { return c.SFTPAddr != "" && c.SFTPAddr != "off" }

// Tripwires are the exfiltration tripwires' settings (docs/tripwires.md). A zero
// Config (the admin commands) means the defaults of package tripwire.
type Tripwires struct {
	Set                bool // the flags were registered (coffer serve)
	UserBytesPerDay    int64
	UserFilesPerHour   int64
	GlobalBytesPerDay  int64
	GlobalFilesPerHour int64
	AnomalyFactor      float64
	OnLimit            string
	OnAnomaly          string
	OnCanary           string
	ThrottleRate       int64
	Webhook            string // https:// URL; "" = none
	WebhookSecretFile  string
}

func (c *Config) tripwireFlags(fs *flag.FlagSet) {
	t := &c.Tripwires
	t.Set = true
	fs.Int64Var(&t.UserBytesPerDay, "tripwire-user-bytes-per-day", 0, "download `bytes` a day per account that fire the volume tripwire (0 = no limit)")
	fs.Int64Var(&t.UserFilesPerHour, "tripwire-user-files-per-hour", 0, "downloaded `files` an hour per account that fire the volume tripwire (0 = no limit)")
	fs.Int64Var(&t.GlobalBytesPerDay, "tripwire-global-bytes-per-day", 0, "download `bytes` a day by all accounts that fire the volume tripwire (0 = no limit)")
	fs.Int64Var(&t.GlobalFilesPerHour, "tripwire-global-files-per-hour", 0, "downloaded `files` an hour by all accounts that fire the volume tripwire (0 = no limit)")
	fs.Float64Var(&t.AnomalyFactor, "tripwire-anomaly-factor", 10, "an account downloading this `factor` times its 14-day baseline in a day fires the anomaly tripwire (0 = off)")
	fs.StringVar(&t.OnLimit, "tripwire-on-limit", "alert", "what the volume tripwire does: alert, throttle or suspend")
	fs.StringVar(&t.OnAnomaly, "tripwire-on-anomaly", "alert", "what the anomaly tripwire does: alert, throttle or suspend")
	fs.StringVar(&t.OnCanary, "tripwire-on-canary", "alert", "what reading or listing a canary file does: alert, throttle or suspend")
	fs.Int64Var(&t.ThrottleRate, "tripwire-throttle-rate", 1<<20, "`bytes` a second of a throttled download")
	fs.StringVar(&t.Webhook, "tripwire-webhook", "", "https:// `URL` to POST each alert to as JSON, signed in X-Coffer-Signature")
	fs.StringVar(&t.WebhookSecretFile, "tripwire-webhook-secret-file", "", "`file` holding the webhook's HMAC-SHA256 secret (at least 16 bytes)")
}
