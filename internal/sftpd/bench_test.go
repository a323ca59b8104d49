package sftpd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/sftpd"
)

// BenchmarkTransfer moves 64 MiB up and down through SSH (aes128-gcm) and SFTP in one
// process; the client's cost is included, so compare profiles, not absolute numbers.
func BenchmarkTransfer(b *testing.B) {
	e := start(b, sftpd.Config{})
	e.User(b, "bench", 0)
	cfg := &ssh.ClientConfig{User: "bench", Auth: []ssh.AuthMethod{ssh.Password("password-of-bench")},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), Config: ssh.Config{Ciphers: []string{"aes128-gcm@openssh.com"}}}
	sc, err := ssh.Dial("tcp", e.addr, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	c, err := sftp.NewClient(sc, sftp.UseConcurrentWrites(true), sftp.UseConcurrentReads(true))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 64<<20)
	rand.Read(data)
	upload := func() {
		f, err := c.Create("/big.bin")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.ReadFrom(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	upload()
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			upload()
		}
	})
	b.Run("download", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			f, err := c.Open("/big.bin")
			if err != nil {
				b.Fatal(err)
			}
			n, err := f.WriteTo(io.Discard)
			f.Close()
			if err != nil || n != int64(len(data)) {
				b.Fatal(n, err)
			}
		}
	})
}

// BenchmarkOpenSSHClient moves 256 MiB up (put) and down (get) with the real OpenSSH sftp client
// (aes128-gcm, its default 32 KiB requests) against the in-process server, so that a CPU
// profile of this benchmark holds only the server's work.
func BenchmarkOpenSSHClient(b *testing.B) {
	if _, err := exec.LookPath("sftp"); err != nil {
		b.Skip("no OpenSSH sftp client")
	}
	e := start(b, sftpd.Config{})
	e.User(b, "bench", 0)
	dir := b.TempDir()
	key := filepath.Join(dir, "k")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		b.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	if _, err := e.Core.Accounts.AddKey(context.Background(), accounts.LocalAdmin("bench"), "bench", string(pub)); err != nil {
		b.Fatal(err)
	}
	src := filepath.Join(dir, "src.bin")
	// A fast seeded generator: crypto/rand filling 256 MiB in one call is a long
	// non-preemptible system call that the garbage collector spins on, which polluted
	// the server's profile.
	data := make([]byte, 256<<20)
	chacha := mrand.NewChaCha8([32]byte{1})
	chacha.Read(data)
	os.WriteFile(src, data, 0o600)
	sftp := func(b *testing.B, cmds string) {
		batch := filepath.Join(dir, "batch")
		os.WriteFile(batch, []byte(cmds), 0o600)
		cmd := exec.Command("sftp", "-q", "-b", batch, "-c", "aes128-gcm@openssh.com", "-P", e.port,
			"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "IdentityFile="+key,
			"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-F", "/dev/null", "bench@127.0.0.1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("sftp: %v %s", err, out)
		}
	}
	put := "put " + src + " /big.bin\n"
	b.Run("put", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sftp(b, put)
		}
	})
	b.Run("get", func(b *testing.B) {
		sftp(b, put)
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			sftp(b, "get /big.bin "+filepath.Join(dir, "back.bin")+"\n")
		}
	})
}
