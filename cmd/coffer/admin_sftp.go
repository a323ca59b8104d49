package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/sftpd"
)

func cmdSFTP(ctx context.Context, e env, args []string) int {
	return dispatch(ctx, e, "sftp", "Shows what SFTP clients are asked to trust.", []subcommand{
		{"hostkeys", "print the SSH host keys' fingerprints and known_hosts lines", sftpHostKeys},
	}, args)
}

// sftpHostKeys prints the fingerprints of the host keys (as the start banner and
// OpenSSH's first-connection prompt show them) and the public keys as known_hosts lines,
// which an administrator hands to partners so that their clients can check the server
// before the first connection (rclone needs both: docs/sftp.md, "Connecting").
func sftpHostKeys(ctx context.Context, e env, args []string) int {
	sp := spec{name: "sftp hostkeys", args: "[--sftp-host-keys DIR] [--host NAME] [--port PORT]",
		about: "Prints the SSH host keys' SHA-256 fingerprints, as 'coffer serve' prints them at start and\n" +
			"as OpenSSH asks users to confirm them, and a known_hosts line for each key: give those\n" +
			"to partners so that their clients check the server from the first connection. The keys\n" +
			"are read from --sftp-host-keys (default DATA/ssh); none is created."}
	var host string
	var port int
	setup := func(fs *flag.FlagSet) {
		fs.String("sftp-host-keys", "", "`directory` of the SSH host keys (default: DATA/ssh)")
		fs.StringVar(&host, "host", "HOST", "the server's `name` as partners connect to it, for the known_hosts lines")
		fs.IntVar(&port, "port", 2022, "the SFTP `port` partners connect to, for the known_hosts lines")
	}
	return withCore(ctx, e, sp, args, setup, func(s *session, _ []string) int {
		dir := s.core.Config.SFTPHostKeyDir()
		signers, err := sftpd.LoadHostKeys(dir)
		if err != nil {
			return s.fail("cannot read the SSH host keys", err)
		}
		w := e.stdout
		fmt.Fprintf(w, "SSH host keys in %s:\n", dir)
		for _, fp := range sftpd.Fingerprints(signers) {
			fmt.Fprintf(w, "  %s\n", fp)
		}
		addr := host
		if port != 22 {
			addr = fmt.Sprintf("[%s]:%d", host, port)
		}
		fmt.Fprintf(w, "known_hosts lines (for ~/.ssh/known_hosts, or rclone's known_hosts_file):\n")
		for _, sg := range signers {
			fmt.Fprintf(w, "%s %s\n", addr, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sg.PublicKey()))))
		}
		return exitOK
	})
}
