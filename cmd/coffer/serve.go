package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/server"
)

func cmdServe(ctx context.Context, e env, args []string) int {
	var cfg config.Config
	fs := flag.NewFlagSet("coffer serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg.Storage(fs)
	cfg.Serve(fs)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: coffer serve [flags]\n\nRuns the server: HTTPS with the REST API under /api/v1. On first start with an empty\n"+
			"data directory it creates everything it needs, including the administrator \"admin\"\n"+
			"(password from COFFER_ADMIN_PASSWORD, or a random one printed once; if it is lost, set\n"+
			"a new one with coffer user passwd admin).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := config.Parse(fs, args, e.getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(e.stderr, "coffer serve: %v\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "coffer serve: unexpected argument %q (see coffer serve --help)\n", fs.Arg(0))
		return exitUsage
	}
	if err := refuseRoot(e, cfg.AllowRoot); err != nil {
		fmt.Fprintf(e.stderr, "coffer serve: %v\n", err)
		return exitUsage
	}
	log, err := server.NewLogger(cfg, e.stderr)
	if err != nil {
		fmt.Fprintf(e.stderr, "coffer serve: %v\n", err)
		return exitUsage
	}
	if err := checkServe(cfg); err != nil {
		fmt.Fprintf(e.stderr, "coffer serve: %v\n", err)
		return exitUsage
	}
	warnKey := keyWarning(e, cfg)
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(e.stderr, "coffer serve: "+format+"\n", args...)
		warnKey()
		return code
	}
	core, err := server.Open(ctx, cfg, log, e.getenv)
	if err != nil {
		if errs.Is(errs.Invalid, err) {
			return fail(exitUsage, "%v", err) // no S3 credentials or a bad --smtp-url, for instance
		}
		return fail(exitFailure, "%v", err)
	}
	defer core.Close()
	core.Version = Version
	// The listeners open before the first administrator is created, so that whatever
	// stops the start (a port in use, a bad TLS key) stops it before a password exists
	// that the banner would never show.
	https, err := core.ListenHTTPS()
	if err != nil {
		return fail(exitFailure, "%v", err)
	}
	var sftp *server.SFTP
	if cfg.SFTPEnabled() {
		if sftp, err = core.ListenSFTP(); err != nil {
			return fail(exitFailure, "%v", err)
		}
	}
	created, password, err := core.Bootstrap(ctx, e.getenv("COFFER_ADMIN_PASSWORD"))
	if err != nil {
		return fail(exitFailure, "cannot create the first administrator: %v", err)
	}
	banner(e, core, https, sftp, created, password)
	core.AuditSystem(ctx, audit.ActServerStart, "version "+Version)

	maintCtx, stopMaint := context.WithCancel(context.WithoutCancel(ctx))
	maintDone := make(chan struct{})
	go func() {
		defer close(maintDone)
		core.Maintain(maintCtx, 10*time.Minute)
	}()
	// The jobs stop, and release their leases, before core.Close closes the database.
	defer func() {
		stopMaint()
		<-maintDone
	}()

	errc := make(chan error, 2)
	listeners := 1
	go func() { errc <- https.Serve() }()
	if sftp != nil {
		listeners++
		go func() { errc <- sftp.Serve() }()
	}
	select {
	case err := <-errc:
		fmt.Fprintf(e.stderr, "coffer serve: %v\n", err)
		shutdown(log, cfg.ShutdownTimeout, https, sftp)
		for range listeners - 1 {
			<-errc
		}
		return exitFailure
	case <-ctx.Done():
	}
	log.Info("shutting down: waiting for transfers in progress", "timeout", cfg.ShutdownTimeout)
	shutdown(log, cfg.ShutdownTimeout, https, sftp)
	for range listeners {
		<-errc
	}
	core.AuditSystem(context.Background(), audit.ActServerStop, "signal")
	log.Info("stopped")
	return exitOK
}

// shutdown stops both listeners at once, giving transfers in progress the same grace period.
func shutdown(log *slog.Logger, timeout time.Duration, https *server.HTTPS, sftp *server.SFTP) {
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan error, 1)
	if sftp != nil {
		go func() { done <- sftp.Shutdown(sctx) }()
	}
	if err := https.Shutdown(sctx); err != nil {
		log.Warn("HTTPS transfers still running at the shutdown timeout were aborted", "err", err)
	}
	if sftp != nil {
		if err := <-done; err != nil {
			log.Warn("SFTP sessions still running at the shutdown timeout were closed", "err", err)
		}
	}
}

func banner(e env, core *server.Core, https *server.HTTPS, sftp *server.SFTP, created bool, password string) {
	w := e.stdout
	addr := https.Addr().String()
	if host, port, err := net.SplitHostPort(addr); err == nil && (host == "::" || host == "0.0.0.0" || host == "") {
		addr = "localhost:" + port
	}
	fmt.Fprintf(w, "Coffer %s\n", Version)
	fmt.Fprintf(w, "  HTTPS:     https://%s/  (REST API at /api/v1, listening on %s)\n", addr, https.Addr())
	fmt.Fprintf(w, "  TLS certificate SHA-256: %s", https.Fingerprint)
	if core.Config.TLSCert == "" {
		fmt.Fprintf(w, "\n             (self-signed, in %s; check this fingerprint when a client warns)", filepath.Join(core.Config.DataDir, "tls"))
	}
	fmt.Fprintln(w)
	if sftp != nil {
		fmt.Fprintf(w, "  SFTP:      sftp -P %s USER@%s  (listening on %s)\n", portOf(sftp.Addr()), hostOf(addr), sftp.Addr())
		fmt.Fprintf(w, "  SSH host keys (%s; check these when a client asks):\n", core.Config.SFTPHostKeyDir())
		for _, fp := range sftp.Fingerprints {
			fmt.Fprintf(w, "             %s\n", fp)
		}
	} else {
		fmt.Fprintf(w, "  SFTP:      off\n")
	}
	fmt.Fprintf(w, "  Data:      %s\n  Database:  %s\n", core.Config.DataDir, core.DB)
	blobs := core.Config.BlobDir()
	if core.Config.Blobs != "" {
		blobs = fmt.Sprint(core.Blobs) // the URL, which holds no credentials
	}
	fmt.Fprintf(w, "  Blobs:     %s\n", blobs)
	fmt.Fprintf(w, "  Key-encryption key: %s\n", core.KeySource)
	if core.NewKey {
		fmt.Fprintf(w, "\n  A new key-encryption key was created. Every stored file is encrypted with it:\n"+
			"  LOSING IT LOSES EVERY FILE. Back it up now, somewhere other than this disk, e.g.\n"+
			"      cp %s /media/backup/coffer.kek   (or print it and keep it in a safe)\n"+
			"  Better, move it off the data disk and start with --kek-file PATH or COFFER_KEK.\n", core.KeySource)
	}
	if created {
		if password != "" {
			fmt.Fprintf(w, "\n  Created the administrator \"admin\" with the password:\n\n      %s\n\n"+
				"  It is shown only this once. Sign in and change it, or set COFFER_ADMIN_PASSWORD\n  before the first start.\n", password)
		} else {
			fmt.Fprintf(w, "\n  Created the administrator \"admin\" with the password from COFFER_ADMIN_PASSWORD.\n")
		}
	}
	fmt.Fprintf(w, "\n  Try: curl -k -u admin https://%s/api/v1/tokens -X POST\n  Stop with Ctrl-C (transfers in progress finish first).\n", addr)
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}

func hostOf(hostport string) string {
	host, _, _ := net.SplitHostPort(hostport)
	return host
}

// refuseRoot stops a server started as root: a file-transfer server faces the Internet,
// and a flaw in it should not own the machine. Ports below 1024 need no root either
// (CAP_NET_BIND_SERVICE, as deploy/coffer.service grants).
func refuseRoot(e env, allowed bool) error {
	euid := os.Geteuid
	if e.euid != nil {
		euid = e.euid
	}
	if euid() != 0 || allowed {
		return nil
	}
	return errors.New("refusing to run as root: run coffer as an unprivileged user that owns the data directory " +
		"(deploy/coffer.service does), or pass --allow-root if you really mean it")
}
