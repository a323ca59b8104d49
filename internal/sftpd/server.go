// Package sftpd is the SFTP front-end: SSH (golang.org/x/crypto/ssh) and an SFTP v3
// request loop of its own (loop.go, protocol.go), mapping every operation onto the files
// layer and every errs.Kind onto an SFTP status at the edge. It holds no policy of its own: authentication is auth's,
// authorisation, quotas, encryption and audit are files'.
package sftpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// Config configures a Server. Zero limits take the defaults.
type Config struct {
	Files *files.Service
	Auth  *auth.Service
	// Defender, if set, refuses banned addresses before the SSH handshake and scores
	// connections that end before trying to authenticate (scanners).
	Defender           *defender.Service
	HostKeys           []ssh.Signer // from LoadOrCreateHostKeys
	Log                *slog.Logger
	HandshakeTimeout   time.Duration // until authenticated; default 20s
	IdleTimeout        time.Duration // no data from the client; default 15m
	MaxSessionsPerUser int           // authenticated connections per user; default 20
	MaxSessions        int           // authenticated connections in all; default 500
	MaxUnauthenticated int           // connections not yet authenticated; default 64
	// Ciphers, MACs and KeyExchanges choose the algorithms offered. Empty means the
	// modern defaults (ciphers, macs, kexAlgos below). A list names the algorithms to
	// offer; a list whose first element starts with "+" adds its elements to the
	// defaults (as in sshd_config). Besides the defaults, only optCiphers and optMACs
	// may be named: AES-CTR and the SHA-2 HMACs, for clients without AES-GCM or
	// ChaCha20-Poly1305. Nothing with CBC or SHA-1 can be.
	Ciphers      []string
	MACs         []string
	KeyExchanges []string
}

// CheckAlgorithms reports whether New would accept cfg's Ciphers, MACs and KeyExchanges,
// and if not, which name is not allowed: for checking settings before anything else is
// set up.
func CheckAlgorithms(cfg Config) error { return cfg.chooseAlgorithms() }

// chooseAlgorithms resolves cfg's algorithm lists (see Config.Ciphers).
func (cfg *Config) chooseAlgorithms() error {
	var err error
	if cfg.Ciphers, err = choose("cipher", cfg.Ciphers, ciphers, optCiphers); err != nil {
		return err
	}
	if cfg.MACs, err = choose("MAC", cfg.MACs, macs, optMACs); err != nil {
		return err
	}
	cfg.KeyExchanges, err = choose("key exchange", cfg.KeyExchanges, kexAlgos, nil)
	return err
}

// choose resolves a configured list of algorithms of kind against the defaults and the
// optional ones (see Config.Ciphers), or says which name is not allowed.
func choose(kind string, want, defaults, optional []string) ([]string, error) {
	if len(want) == 0 {
		return defaults, nil
	}
	var out []string
	if rest, add := strings.CutPrefix(want[0], "+"); add {
		out = slices.Clone(defaults)
		want = want[1:]
		if rest != "" {
			want = append([]string{rest}, want...)
		}
	}
	allowed := append(slices.Clone(defaults), optional...)
	for _, w := range want {
		if !slices.Contains(allowed, w) {
			return nil, fmt.Errorf("sftpd: %s %q is not allowed; choose among %s", kind, w, strings.Join(allowed, ", "))
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out, nil
}

// Algorithms offered. Modern only: no CBC, no SHA-1, no NIST-curve key exchange. In SSH
// the client's preference decides among these; AES-GCM comes first for clients that
// follow the server's order (it is about twice as cheap as ChaCha20 in Go on amd64).
var (
	kexAlgos = []string{ssh.KeyExchangeMLKEM768X25519, ssh.KeyExchangeCurve25519, "curve25519-sha256@libssh.org"}
	ciphers  = []string{ssh.CipherAES128GCM, ssh.CipherAES256GCM, ssh.CipherChaCha20Poly1305}
	macs     = []string{ssh.HMACSHA256ETM, ssh.HMACSHA512ETM}
	// Offered only when configured, for older clients (docs/sftp.md, "Older clients"):
	// libssh2 before 1.11 (curl, PHP's ssh2) knows neither AES-GCM nor ChaCha20-Poly1305,
	// nor the encrypt-then-MAC HMACs; paramiko before 3.5 has neither cipher either.
	optCiphers     = []string{ssh.CipherAES128CTR, ssh.CipherAES192CTR, ssh.CipherAES256CTR}
	optMACs        = []string{ssh.HMACSHA256, ssh.HMACSHA512}
	userKeyAlgos   = []string{ssh.KeyAlgoED25519, ssh.KeyAlgoSKED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoSKECDSA256, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	serverVersion  = "SSH-2.0-Coffer"
	execRefusedMsg = "this server offers SFTP only; use sftp, or scp without -O\r\n"
)

// Server accepts SSH connections and serves SFTP on them.
type Server struct {
	cfg Config
	log *slog.Logger

	unauth chan struct{} // a slot per connection not yet authenticated
	pool   *bufferPool   // packet and read-ahead buffers, shared by all sessions

	reordered atomic.Int64                       // bytes of all sessions' reorder copies (packetSource.hold)
	panicAt   atomic.Pointer[func(where string)] // tests: makes a goroutine panic (see bug)

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perUser   map[int64]int
	sessions  int
	closing   bool
	idle      chan struct{} // closed when conns becomes empty during shutdown
	refusals  refusalLog    // clients refused for their algorithms, lately
	wg        sync.WaitGroup
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Files == nil || cfg.Auth == nil {
		return nil, errors.New("sftpd: Files and Auth are required")
	}
	if len(cfg.HostKeys) == 0 {
		return nil, errors.New("sftpd: no host keys (use LoadOrCreateHostKeys)")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 20 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.MaxSessionsPerUser <= 0 {
		cfg.MaxSessionsPerUser = 20
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 500
	}
	if cfg.MaxUnauthenticated <= 0 {
		cfg.MaxUnauthenticated = 64
	}
	if err := cfg.chooseAlgorithms(); err != nil {
		return nil, err
	}
	return &Server{
		cfg: cfg, log: cfg.Log.With("protocol", audit.SFTP),
		unauth:    make(chan struct{}, cfg.MaxUnauthenticated),
		pool:      newBufferPool(),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
		perUser:   map[int64]int{},
	}, nil
}

// Serve accepts connections on ln until Shutdown or Close, then returns nil.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("sftpd: accept: %w", err)
		}
		delay = 0
		select {
		case s.unauth <- struct{}{}:
		default:
			s.log.Warn("too many connections not yet authenticated; refusing one", "ip", hostOf(nc.RemoteAddr()), "limit", s.cfg.MaxUnauthenticated)
			nc.Close()
			continue
		}
		c := &conn{srv: s, nc: &idleConn{Conn: nc, idle: s.cfg.IdleTimeout}}
		if !s.track(c) {
			<-s.unauth
			nc.Close()
			return nil
		}
		go c.serve()
	}
}

func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if c.counted {
		s.sessions--
		if s.perUser[c.p.UserID]--; s.perUser[c.p.UserID] <= 0 {
			delete(s.perUser, c.p.UserID)
		}
	}
	if s.closing && len(s.conns) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
	s.wg.Done()
}

// admit counts an authenticated connection against the session limits.
func (s *Server) admit(c *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.sessions >= s.cfg.MaxSessions:
		return fmt.Errorf("the server has its maximum of %d SFTP sessions; try again later", s.cfg.MaxSessions)
	case s.perUser[c.p.UserID] >= s.cfg.MaxSessionsPerUser:
		return fmt.Errorf("user %s has the maximum of %d concurrent SFTP sessions; close one and try again", c.p.Name, s.cfg.MaxSessionsPerUser)
	}
	s.sessions++
	s.perUser[c.p.UserID]++
	c.counted = true
	return nil
}

// Shutdown stops accepting connections, lets sessions finish until ctx ends, then closes
// them, and waits for their goroutines.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for ln := range s.listeners {
		ln.Close()
	}
	var idle chan struct{}
	if len(s.conns) > 0 {
		if s.idle == nil {
			s.idle = make(chan struct{})
		}
		idle = s.idle
	}
	s.mu.Unlock()
	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// idleConn closes a connection on which the client sent nothing for idle; until armed
// (authenticated) the handshake deadline applies instead.
type idleConn struct {
	net.Conn
	idle  time.Duration
	armed atomic.Bool

	// spoke is set once the client sent more than an SSH version line: a byte past its
	// first newline, or a first line that does not start "SSH-". A connection closed
	// before that, and soon, is a health check or a banner grab, not a scan.
	spoke atomic.Bool
	seen  int  // bytes of the first line read so far (the reading goroutine's)
	ended bool // the first line's newline arrived (the reading goroutine's)
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.armed.Load() {
		c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	n, err := c.Conn.Read(p)
	if n > 0 && !c.spoke.Load() {
		c.note(p[:n])
	}
	return n, err
}

// note follows what the client sends until it is more than a version line.
func (c *idleConn) note(b []byte) {
	if !c.ended {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b, c.ended = b[:i+1], b[i+1:], true
		} else {
			b = nil
		}
		const prefix = "SSH-"
		for _, ch := range line {
			if c.seen < len(prefix) && ch != prefix[c.seen] {
				c.spoke.Store(true) // not SSH: a scanner or a fuzzer
				return
			}
			c.seen++
		}
	}
	if len(b) > 0 {
		c.spoke.Store(true)
	}
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// conn is one SSH connection.
type conn struct {
	srv *Server
	nc  *idleConn

	// Authentication state, written by the SSH callbacks (one at a time).
	mu         sync.Mutex
	principals []auth.Principal // every principal a callback returned, by index
	keyFails   int              // rejected public keys: auth does not count these
	pwFails    int              // failed passwords: auth.Password counted them already
	refused    int              // registered keys the account refused (auth audited each)
	lastUser   string

	p       auth.Principal // the authenticated principal
	counted bool           // admitted against the session limits
}

const (
	extPrincipal   = "coffer-principal"
	extMethod      = "coffer-method"
	extFingerprint = "coffer-fingerprint"
)

func (c *conn) client() auth.Client {
	return auth.Client{IP: hostOf(c.nc.RemoteAddr()), Protocol: audit.SFTP}
}

// accept stores p and returns the permissions that name it; the SSH layer hands back the
// permissions of the method that finally succeeded, so that is the principal used.
func (c *conn) accept(p auth.Principal, method, fp string) *ssh.Permissions {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.principals = append(c.principals, p)
	return &ssh.Permissions{Extensions: map[string]string{
		extPrincipal: strconv.Itoa(len(c.principals) - 1), extMethod: method, extFingerprint: fp,
	}}
}

func (c *conn) rejected(user string, password bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastUser = user
	switch {
	case errs.Is(errs.Locked, err):
		c.srv.log.Warn("sign-in refused: locked out", "user", user, "ip", c.client().IP, "err", err)
	case !password && auth.KeyRefused(err):
		// A key registered for the user, refused for the account's state or limits:
		// audited with the reason by auth. Not a guess at the account's credentials, so
		// not a failed sign-in of the account; but the client has not proven it holds
		// the key (the SSH layer asks before it verifies a signature), so a connection
		// that ends so scores for its address (below, serve).
		c.refused++
		c.srv.log.Info("sign-in refused", "user", user, "ip", c.client().IP, "err", err)
	case errs.Is(errs.Unauthenticated, err):
		if password {
			c.pwFails++
		} else {
			c.keyFails++
		}
	default:
		c.srv.log.Error("sign-in failed", "user", user, "ip", c.client().IP, "err", err)
	}
}

// negotiationHint says what to do about a client that has no algorithm of a kind in
// common with the server: put back a default the configuration left out, enable older
// algorithms the client offers, or upgrade the client.
func (s *Server) negotiationHint(ne *ssh.AlgorithmNegotiationError) string {
	var flag string
	var defaults, opt []string
	switch {
	case strings.Contains(ne.What, "cipher"):
		flag, defaults, opt = "--sftp-ciphers", ciphers, optCiphers
	case strings.Contains(ne.What, "MAC"):
		flag, defaults, opt = "--sftp-macs", macs, optMACs
	case strings.Contains(ne.What, "key exchange"):
		flag, defaults = "--sftp-kex", kexAlgos
	case ne.What == "host key":
		// ssh-keyscan asks for one key type per connection, ECDSA among them; a client
		// configured for ECDSA host keys only is the other case. Neither is outdated.
		return "the client accepts only host key types this server has no key of (it has " + strings.Join(hostKeyTypes(s.cfg.HostKeys), " and ") +
			"): ssh-keyscan probes each type in turn, so this is expected once per scan; a client limited to other types (HostKeyAlgorithms) must accept one of these"
	}
	offered := func(among []string) (names []string) {
		for _, a := range ne.RequestedAlgorithms {
			if slices.Contains(among, a) && !slices.Contains(ne.SupportedAlgorithms, a) {
				names = append(names, a)
			}
		}
		return names
	}
	if left := offered(defaults); len(left) > 0 {
		return "the client offers " + strings.Join(left, ",") + ", which this server's " + flag + " leaves out"
	}
	enable := offered(opt)
	switch {
	case len(enable) == 0:
		return "the client offers only algorithms this server never allows (CBC, SHA-1, MD5, or ones it does not know): the client must be upgraded or configured for modern algorithms (docs/sftp.md, \"Algorithms offered\")"
	case flag == "--sftp-macs":
		return "the client knows only the SHA-2 HMACs without encrypt-then-MAC (such as libssh2 before 1.11, in curl and PHP): upgrade it, or admit such clients with --sftp-macs +" +
			strings.Join(enable, ",") + " (docs/sftp.md, \"Older clients\")"
	}
	hint := "the client knows neither AES-GCM nor ChaCha20-Poly1305 (such as libssh2 before 1.11, in curl and PHP, or paramiko before 3.5): upgrade it, or admit such clients with --sftp-ciphers +" +
		strings.Join(enable, ",")
	if !slices.ContainsFunc(s.cfg.MACs, func(m string) bool { return slices.Contains(optMACs, m) }) {
		hint += " (libssh2 before 1.11 also needs --sftp-macs +" + strings.Join(optMACs, ",") + ")"
	}
	return hint + " (docs/sftp.md, \"Older clients\")"
}

// probeGrace is how soon a health check closes its connection: a tenth of the handshake
// timeout (2 s by default). A silent connection held longer takes an unauthenticated
// slot the way an attack on the slots does, and is scored.
func probeGrace(handshake time.Duration) time.Duration { return handshake / 10 }

// hostKeyTypes names the types of the server's host keys as OpenSSH prints them.
func hostKeyTypes(keys []ssh.Signer) []string {
	var out []string
	for _, k := range keys {
		out = append(out, keyTypeName(k.PublicKey()))
	}
	return out
}

// refusalLog limits the warnings about clients refused for their algorithms to one per
// address and kind of algorithm in refusalQuiet: an old client retrying from cron, or a
// scanner, would otherwise fill the log before anyone signs in, and per kind an
// ssh-keyscan's host key probe does not hide a cipher refusal from the same address. The
// rest go to DEBUG. Its memory is bounded: when it holds refusalMax entries it starts over.
type refusalLog struct {
	mu   sync.Mutex
	last map[string]time.Time
}

const (
	refusalQuiet = 10 * time.Minute
	refusalMax   = 4096
	offersMax    = 512 // bytes of the client's list of algorithms in a log line
)

// warn reports whether a refusal of key (an address and a kind) is to be logged at WARN now.
func (r *refusalLog) warn(key string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if t, ok := r.last[key]; ok && now.Sub(t) < refusalQuiet {
		return false
	}
	if r.last == nil || len(r.last) >= refusalMax {
		r.last = map[string]time.Time{}
	}
	r.last[key] = now
	return true
}

// logRefusal logs why a client could not agree on algorithms with the server.
func (c *conn) logRefusal(log *slog.Logger, ne *ssh.AlgorithmNegotiationError) {
	level := slog.LevelDebug
	if c.srv.refusals.warn(c.client().IP+" "+ne.What, time.Now()) {
		level = slog.LevelWarn
	}
	offers := strings.Join(ne.RequestedAlgorithms, ",")
	if len(offers) > offersMax {
		offers = offers[:offersMax] + "..."
	}
	log.Log(context.Background(), level, "SFTP client refused: no "+ne.What+" in common; "+c.srv.negotiationHint(ne),
		"client_offers", offers, "server_offers", strings.Join(ne.SupportedAlgorithms, ","))
}

func (c *conn) sshConfig(ctx context.Context) *ssh.ServerConfig {
	cfg := &ssh.ServerConfig{
		Config:                  ssh.Config{KeyExchanges: c.srv.cfg.KeyExchanges, Ciphers: c.srv.cfg.Ciphers, MACs: c.srv.cfg.MACs},
		PublicKeyAuthAlgorithms: userKeyAlgos,
		ServerVersion:           serverVersion,
		PasswordCallback: func(meta ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			p, err := c.srv.cfg.Auth.Password(ctx, meta.User(), string(pw), c.client())
			if err != nil {
				c.rejected(meta.User(), true, err)
				return nil, errors.New("sign-in refused")
			}
			return c.accept(p, "password", ""), nil
		},
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			p, err := c.srv.cfg.Auth.PublicKey(ctx, meta.User(), key, c.client())
			if err != nil {
				c.rejected(meta.User(), false, err)
				return nil, errors.New("key refused")
			}
			return c.accept(p, "publickey", ssh.FingerprintSHA256(key)), nil
		},
	}
	for _, k := range c.srv.cfg.HostKeys {
		cfg.AddHostKey(k)
	}
	return cfg
}

func (c *conn) serve() {
	defer c.srv.untrack(c)
	defer func() {
		if v := recover(); v != nil {
			c.srv.bug("connection", v)
			c.nc.Close()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := c.srv.log.With("ip", c.client().IP)
	if d := c.srv.cfg.Defender; d != nil {
		if err := d.Check(ctx, c.client().IP); err != nil {
			<-c.srv.unauth
			c.nc.Close()
			log.Info("connection refused", "err", err)
			return
		}
	}

	started := time.Now()
	c.nc.SetDeadline(started.Add(c.srv.cfg.HandshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(c.nc, c.sshConfig(ctx))
	<-c.srv.unauth
	if err != nil {
		c.nc.Close()
		c.mu.Lock()
		failed := c.keyFails > 0 && c.pwFails == 0
		refusedOnly := c.refused > 0 && c.keyFails == 0 && c.pwFails == 0
		user := c.lastUser
		tried := c.keyFails > 0 || c.pwFails > 0 || c.lastUser != ""
		c.mu.Unlock()
		// A client that closed the connection itself, soon (probeGrace), having sent at
		// most its version line is a health check (a load balancer's, a monitoring
		// probe's): not scored, or one check every 15 seconds would ban the monitoring
		// host. One that held its slot longer is scored whatever it sent.
		probe := !c.nc.spoke.Load() && time.Since(started) < probeGrace(c.srv.cfg.HandshakeTimeout)
		if d := c.srv.cfg.Defender; d != nil && !tried && !probe {
			// Nobody signs in without trying a user name: a scanner, or a client that
			// does not accept our algorithms.
			if err := d.Record(context.WithoutCancel(ctx), defender.Event{Kind: defender.SSHHandshake, IP: c.client().IP, Protocol: audit.SFTP}); err != nil {
				log.Error("cannot record a failed handshake", "err", err)
			}
		}
		if failed {
			// Clients offer every key they hold, so auth does not count rejected keys;
			// a connection that gave up after them is one failed sign-in.
			if err := c.srv.cfg.Auth.Failed(context.WithoutCancel(ctx), user, c.client(), "publickey: no accepted key"); err != nil {
				log.Error("cannot record failed sign-in", "user", user, "err", err)
			}
		}
		if d := c.srv.cfg.Defender; d != nil && refusedOnly {
			// Only keys the account refused (audited each): one point for the address,
			// so that replaying a published public key against a disabled account is
			// banned like any other failure; the account's lockout is not touched.
			if err := d.Record(context.WithoutCancel(ctx), defender.Event{Kind: defender.LoginFailed, IP: c.client().IP, Protocol: audit.SFTP, User: user}); err != nil {
				log.Error("cannot record a refused sign-in", "user", user, "err", err)
			}
		}
		if ne := (*ssh.AlgorithmNegotiationError)(nil); errors.As(err, &ne) {
			// The administrator needs this to help a partner whose client cannot connect.
			c.logRefusal(log, ne)
			return
		}
		log.Debug("ssh handshake ended", "err", err)
		return
	}
	defer sc.Close()
	// Signed in: from here the idle timeout applies, not the handshake's. The sign-in's
	// audit record below may wait for the database, and with many clients signing in at
	// once that wait must not run into the handshake deadline.
	c.nc.SetDeadline(time.Time{})
	c.nc.armed.Store(true)
	idx, perr := strconv.Atoi(sc.Permissions.Extensions[extPrincipal])
	c.mu.Lock()
	ok := perr == nil && idx >= 0 && idx < len(c.principals) && c.principals[idx].Name == sc.User()
	if ok {
		c.p = c.principals[idx]
	}
	c.principals = nil
	c.mu.Unlock()
	if !ok {
		// Cannot happen unless the SSH library misbehaves: fail closed.
		log.Error("authenticated connection without a principal; closing", "user", sc.User())
		return
	}
	log = log.With("user", c.p.Name)
	if sc.Permissions.Extensions[extMethod] == "publickey" {
		if err := c.srv.cfg.Auth.Accepted(ctx, c.p, "publickey", sc.Permissions.Extensions[extFingerprint]); err != nil {
			log.Error("cannot record sign-in", "err", err)
		}
	}
	go ssh.DiscardRequests(reqs)
	if err := c.srv.admit(c); err != nil {
		log.Warn("session refused", "err", err)
		for nc := range chans {
			nc.Reject(ssh.ResourceShortage, err.Error())
			break
		}
		return
	}
	log.Info("sftp session started", "client", string(sc.ClientVersion()))
	var wg sync.WaitGroup
	channels := make(chan struct{}, maxChannels)
	for nch := range chans {
		if nch.ChannelType() != "session" {
			nch.Reject(ssh.Prohibited, "only session channels (for SFTP) are allowed; forwarding is disabled")
			continue
		}
		select {
		case channels <- struct{}{}:
		default:
			nch.Reject(ssh.ResourceShortage, fmt.Sprintf("this server allows %d sessions on one connection; close one first", maxChannels))
			continue
		}
		ch, chreqs, err := nch.Accept()
		if err != nil {
			<-channels
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-channels; wg.Done() }()
			defer func() {
				if v := recover(); v != nil {
					c.srv.bug("session channel", v)
					ch.Close()
				}
			}()
			c.session(ctx, ch, chreqs, log)
		}()
	}
	cancel()
	wg.Wait()
	log.Info("sftp session ended")
}

// bug logs a panic, which is always a bug, with its stack, and returns it as an internal
// error. The goroutines of the server recover panics and end only what they serve (an
// upload, a session, a connection) through their usual cleanup: one client's request
// must not stop every other transfer. A test may make a goroutine panic at where.
func (s *Server) bug(where string, v any) error {
	s.log.Error("internal error: a panic was contained; please report it", "in", where, "panic", v, "stack", string(debug.Stack()))
	return errs.E(errs.Other, fmt.Errorf("panic in %s: %v", where, v))
}

// hook panics at where if a test asked for it.
func (s *Server) hook(where string) {
	if f := s.panicAt.Load(); f != nil {
		(*f)(where)
	}
}

// maxChannels bounds the session channels open at once on one connection (OpenSSH's
// MaxSessions default): each can run an SFTP session with its own buffers and handles.
const maxChannels = 10

// session serves one session channel: the "sftp" subsystem and nothing else.
func (c *conn) session(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request, log *slog.Logger) {
	defer ch.Close()
	started := false
	done := make(chan struct{})
	for {
		var req *ssh.Request
		select {
		case r, ok := <-reqs:
			if !ok {
				if started {
					<-done
				}
				return
			}
			req = r
		case <-done:
			go ssh.DiscardRequests(reqs)
			return
		}
		switch {
		case req.Type == "subsystem" && !started && subsystemName(req.Payload) == "sftp":
			req.Reply(true, nil)
			started = true
			go func() {
				defer close(done)
				err := newSession(c.srv, c.p, ctx, ch).serve()
				if err != nil && !errors.Is(err, io.EOF) {
					log.Debug("sftp subsystem ended", "err", err)
				}
				// scp (SFTP mode) checks the exit status, as sshd's sftp-server would give it.
				ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
			}()
		case !started && (req.Type == "exec" || req.Type == "shell"):
			// scp -O and ssh run commands; say why nothing runs, as a shell would.
			req.Reply(true, nil)
			log.Info("refused a command or shell: SFTP only", "request", req.Type)
			ch.Stderr().Write([]byte(execRefusedMsg))
			ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{1}))
			return
		default:
			// pty-req, env, x11-req, other subsystems...
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
}

func subsystemName(payload []byte) string {
	var m struct{ Name string }
	if err := ssh.Unmarshal(payload, &m); err != nil {
		return ""
	}
	return m.Name
}
