package server

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/sftpd"
)

// SFTP is the SFTP listener.
type SFTP struct {
	*sftpd.Server
	ln           net.Listener
	Fingerprints []string // of the host keys, for the banner
	Created      bool     // the host keys were generated now
}

// ListenSFTP opens the SFTP listener on the configured address with the host keys in
// the configured directory (generated on first start).
func (c *Core) ListenSFTP() (*SFTP, error) {
	keys, created, err := sftpd.LoadOrCreateHostKeys(c.Config.SFTPHostKeyDir())
	if err != nil {
		return nil, fmt.Errorf("SSH host keys in %s: %w", c.Config.SFTPHostKeyDir(), err)
	}
	l := c.Config.SFTP
	srv, err := sftpd.New(sftpd.Config{Files: c.Files, Auth: c.Auth, Defender: c.Defender, HostKeys: keys, Log: c.Log,
		HandshakeTimeout: l.HandshakeTimeout, IdleTimeout: l.IdleTimeout, MaxSessions: l.MaxSessions,
		MaxSessionsPerUser: l.MaxSessionsPerUser, MaxUnauthenticated: l.MaxUnauthenticated,
		Ciphers: config.List(l.Ciphers), MACs: config.List(l.MACs), KeyExchanges: config.List(l.KeyExchanges)})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Config.SFTPAddr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for SFTP on %s: %w (is another server using the port? choose another with --sftp, or --sftp off)", c.Config.SFTPAddr, err)
	}
	ln = withProxyProtocol(ln, c.trustedProxies, c.Log)
	fps := sftpd.Fingerprints(keys)
	if w := c.checkShared(context.Background(), sharedSSHKeys, strings.Join(fps, ", ")); w != "" {
		c.Log.Warn(w + ": SSH clients that the load balancer sends to both refuse to connect (host key changed); give every node the same --sftp-host-keys (docs/deploy.md)")
	}
	return &SFTP{Server: srv, ln: ln, Fingerprints: fps, Created: created}, nil
}

// Addr is the address the listener is bound to.
func (s *SFTP) Addr() net.Addr { return s.ln.Addr() }

// Serve serves until Shutdown.
func (s *SFTP) Serve() error { return s.Server.Serve(s.ln) }
