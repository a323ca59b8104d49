// Command sftpload opens many idle, authenticated SFTP sessions for bench/sftp.sh.
//
//	sftpload --addr 127.0.0.1:2022 --key 'keys/{user}' --users u01,u02 --n 500
//
// Each user signs in with the private key file --key names, "{user}" replaced by the
// user's name (Coffer registers a key for one user only). It opens n SSH connections (spread round-robin over the users, at most --parallel
// handshakes at a time), starts the sftp subsystem on each and checks it with a stat of
// ".", prints "ready N" and then keeps every session open and idle until its standard
// input ends; then it closes them all and prints "closed N". Any failure exits 1.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func main() {
	addr := flag.String("addr", "", "server address host:port")
	keyFile := flag.String("key", "", "private key file (unencrypted); {user} is replaced by the user name")
	users := flag.String("users", "", "comma-separated user names")
	n := flag.Int("n", 500, "number of sessions")
	parallel := flag.Int("parallel", 16, "handshakes at a time")
	flag.Parse()
	if *addr == "" || *keyFile == "" || *users == "" {
		fmt.Fprintln(os.Stderr, "sftpload: --addr, --key and --users are required")
		os.Exit(2)
	}
	names := strings.Split(*users, ",")
	signers := map[string]ssh.Signer{}
	for _, u := range names {
		pem, err := os.ReadFile(strings.ReplaceAll(*keyFile, "{user}", u))
		if err != nil {
			fail(err)
		}
		signer, err := ssh.ParsePrivateKey(pem)
		if err != nil {
			fail(err)
		}
		signers[u] = signer
	}

	type sess struct {
		c  *ssh.Client
		sc *sftp.Client
	}
	sessions := make([]sess, *n)
	errs := make([]error, *n)
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			cfg := &ssh.ClientConfig{
				User:            names[i%len(names)],
				Auth:            []ssh.AuthMethod{ssh.PublicKeys(signers[names[i%len(names)]])},
				HostKeyCallback: ssh.InsecureIgnoreHostKey(),
				Timeout:         30 * time.Second,
			}
			c, err := ssh.Dial("tcp", *addr, cfg)
			if err != nil {
				errs[i] = fmt.Errorf("session %d (%s): dial: %w", i, cfg.User, err)
				return
			}
			sc, err := sftp.NewClient(c)
			if err != nil {
				c.Close()
				errs[i] = fmt.Errorf("session %d (%s): sftp: %w", i, cfg.User, err)
				return
			}
			if _, err := sc.Stat("."); err != nil {
				sc.Close()
				c.Close()
				errs[i] = fmt.Errorf("session %d (%s): stat: %w", i, cfg.User, err)
				return
			}
			sessions[i] = sess{c, sc}
		}(i)
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err != nil {
			if failed < 5 {
				fmt.Fprintln(os.Stderr, "sftpload:", err)
			}
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "sftpload: %d of %d sessions failed\n", failed, *n)
		os.Exit(1)
	}
	fmt.Printf("ready %d %.1fs\n", *n, time.Since(t0).Seconds())
	io.Copy(io.Discard, os.Stdin)
	for _, s := range sessions {
		s.sc.Close()
		s.c.Close()
	}
	fmt.Printf("closed %d\n", *n)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sftpload:", err)
	os.Exit(1)
}
