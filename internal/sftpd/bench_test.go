package sftpd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

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
	const size = 256 << 20
	func() {
		data := make([]byte, size)
		chacha := mrand.NewChaCha8([32]byte{1})
		chacha.Read(data)
		os.WriteFile(src, data, 0o600)
	}()
	// The data must not stay in the heap: its size would set the collector's pace, not
	// the server's own memory.
	runtime.GC()
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
		b.SetBytes(size)
		cpu := serverCPU(b)
		for b.Loop() {
			sftp(b, put)
		}
		cpu.report(b, size)
	})
	b.Run("get", func(b *testing.B) {
		sftp(b, put)
		b.SetBytes(size)
		cpu := serverCPU(b)
		for b.Loop() {
			sftp(b, "get /big.bin "+filepath.Join(dir, "back.bin")+"\n")
		}
		cpu.report(b, size)
	})
}

// cpuClock reads this process's CPU time (the server's: the client is a child process,
// which RUSAGE_SELF does not count).
type cpuClock struct{ start time.Duration }

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func serverCPU(b *testing.B) cpuClock { return cpuClock{processCPU(b)} }

// report adds the server's CPU seconds per GiB moved, as bench/sftp.sh reports them.
func (c cpuClock) report(b *testing.B, size int) {
	used := processCPU(b) - c.start
	b.ReportMetric(used.Seconds()/float64(b.N)/(float64(size)/(1<<30)), "server-cpu-s/GiB")
}

// BenchmarkOpenSSHSmallFiles puts and gets 200 files of 4 KiB in one OpenSSH sftp session
// each way: the per-file cost (round trips, commits, fsyncs), not the bandwidth.
func BenchmarkOpenSSHSmallFiles(b *testing.B) {
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
	const n = 200
	var puts, gets strings.Builder
	for i := range n {
		name := fmt.Sprintf("s%03d", i)
		data := make([]byte, 4096)
		rand.Read(data)
		os.WriteFile(filepath.Join(dir, name), data, 0o600)
		fmt.Fprintf(&puts, "put %s /%s\n", filepath.Join(dir, name), name)
		fmt.Fprintf(&gets, "get /%s %s\n", name, filepath.Join(dir, "back-"+name))
	}
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
	b.Run("put", func(b *testing.B) {
		for b.Loop() {
			sftp(b, puts.String())
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
	})
	b.Run("get", func(b *testing.B) {
		for b.Loop() {
			sftp(b, gets.String())
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "files/s")
	})
}
