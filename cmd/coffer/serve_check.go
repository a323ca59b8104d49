package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/coffer-mft/coffer/internal/blob/s3"
	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/server"
	"github.com/coffer-mft/coffer/internal/sftpd"
)

// checkServe checks the settings of coffer serve that can be checked without creating
// anything: on a first start, server.Open creates the data directory, the database and
// the key-encryption key, and a bad flag found only afterwards would leave them behind
// without the banner that tells the operator to back the key up. What needs the core
// (the mail and tripwire settings, S3 credentials, the ports being free) is still
// checked by server.Open and the listeners, before the first administrator is created.
func checkServe(cfg config.Config) error {
	for _, a := range []struct{ flag, addr string }{{"http", cfg.HTTPAddr}, {"sftp", cfg.SFTPAddr}} {
		if a.flag == "sftp" && !cfg.SFTPEnabled() {
			continue
		}
		if err := checkAddr(a.addr); err != nil {
			return fmt.Errorf("--%s %q: %v", a.flag, a.addr, err)
		}
	}
	if err := checkTLS(cfg.TLSCert, cfg.TLSKey); err != nil {
		return err
	}
	if _, err := server.ParseTrustedProxies(cfg.ProxyProtocol); err != nil {
		return err
	}
	if _, err := defender.ParseList(cfg.AllowIPs); err != nil {
		return fmt.Errorf("--allow-ip: %w", err)
	}
	if _, err := defender.ParseList(cfg.DenyIPs); err != nil {
		return fmt.Errorf("--deny-ip: %w", err)
	}
	if cfg.Blobs != "" {
		if _, err := s3.ParseURL(cfg.Blobs); err != nil {
			return fmt.Errorf("--blobs: %w", err)
		}
	}
	if cfg.SFTPEnabled() {
		return checkSFTPAlgorithms(cfg.SFTP)
	}
	return nil
}

// checkAddr checks a listen address's form: HOST:PORT or :PORT.
func checkAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("not a listen address (%v): use HOST:PORT or :PORT", unwrapAddrError(err))
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("bad port %q: use a number from 0 to 65535", port)
	}
	return nil
}

func unwrapAddrError(err error) error {
	var ae *net.AddrError
	if errors.As(err, &ae) {
		return errors.New(ae.Err)
	}
	return err
}

// checkTLS checks a configured certificate and key: both or neither, and loadable as a pair.
func checkTLS(certFile, keyFile string) error {
	if (certFile == "") != (keyFile == "") {
		return errors.New("give both --tls-cert and --tls-key, or neither (for a self-signed certificate)")
	}
	if certFile == "" {
		return nil
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("%s: %w", pe.Path, pe.Err)
		}
		return fmt.Errorf("cannot load the TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return nil
}

// checkSFTPAlgorithms checks the algorithm lists against sftpd's policy, each alone so
// that the message names its flag.
func checkSFTPAlgorithms(l config.SFTPLimits) error {
	for _, f := range []struct {
		flag string
		cfg  sftpd.Config
	}{
		{"sftp-ciphers", sftpd.Config{Ciphers: config.List(l.Ciphers)}},
		{"sftp-macs", sftpd.Config{MACs: config.List(l.MACs)}},
		{"sftp-kex", sftpd.Config{KeyExchanges: config.List(l.KeyExchanges)}},
	} {
		if err := sftpd.CheckAlgorithms(f.cfg); err != nil {
			return fmt.Errorf("--%s: %s", f.flag, strings.TrimPrefix(err.Error(), "sftpd: "))
		}
	}
	return nil
}

// keyWarning returns a function that, called when serve stops early, warns about a
// key-encryption key created since: the banner, which would have told the operator to
// back it up, is not printed, and a later start does not know the key is new.
func keyWarning(e env, cfg config.Config) func() {
	path := cfg.KEKPath()
	if e.getenv("COFFER_KEK") != "" || exists(path) {
		return func() {}
	}
	return func() {
		if exists(path) {
			fmt.Fprintf(e.stderr, "coffer serve: created a new key-encryption key in %s: back it up now, apart from the data; without it no stored file can be read\n", path)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
