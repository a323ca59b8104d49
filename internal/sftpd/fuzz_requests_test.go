package sftpd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// SFTP packet types (draft-ietf-secsh-filexfer-02) for the seeds.
const (
	fzInit, fzOpen, fzClose, fzRead, fzWrite, fzLstat, fzFstat, fzSetstat = 1, 3, 4, 5, 6, 7, 8, 9
	fzOpendir, fzReaddir, fzRemove, fzMkdir, fzRmdir, fzRealpath, fzStat  = 11, 12, 13, 14, 15, 16, 17
	fzRename, fzReadlink, fzSymlink, fzExtended                           = 18, 19, 20, 200
)

// fzPacket builds one SFTP packet: length, type, then uint32, uint64 or string fields.
func fzPacket(typ byte, fields ...any) []byte {
	b := []byte{0, 0, 0, 0, typ}
	for _, f := range fields {
		switch v := f.(type) {
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case string:
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func fzJoin(ps ...[]byte) []byte { return bytes.Join(ps, nil) }

// FuzzSFTPRequests sends arbitrary SFTP packets, after a proper INIT, from the user
// mallory to the real server over SSH. Whatever they are, the server answers and ends the
// session without crashing or hanging, no answer carries a byte of bob's file, and bob's
// file is intact afterwards: pkg/sftp's parsing and our request adapter together keep
// every request inside mallory's own tree.
func FuzzSFTPRequests(f *testing.F) {
	const pflagRead, pflagWrite, pflagCreat, pflagTrunc = 1, 2, 8, 16
	for _, p := range []string{"/../bob/secret.txt", "../../../bob/secret.txt", "/bob/secret.txt", "secret.txt", "\x00/secret.txt", `..\bob\secret.txt`, "/etc/passwd"} {
		f.Add(fzJoin(fzPacket(fzOpen, uint32(1), p, uint32(pflagRead), uint32(0)), fzPacket(fzRead, uint32(2), "0", uint64(0), uint32(1024)), fzPacket(fzClose, uint32(3), "0")))
		f.Add(fzJoin(fzPacket(fzStat, uint32(1), p), fzPacket(fzRealpath, uint32(2), p), fzPacket(fzOpendir, uint32(3), p), fzPacket(fzReaddir, uint32(4), "0")))
	}
	f.Add(fzJoin(fzPacket(fzOpen, uint32(1), "/up.txt", uint32(pflagWrite|pflagCreat|pflagTrunc), uint32(0)),
		fzPacket(fzWrite, uint32(2), "0", uint64(0), "hello"), fzPacket(fzClose, uint32(3), "0"),
		fzPacket(fzRename, uint32(4), "/up.txt", "/../bob/up.txt"), fzPacket(fzSymlink, uint32(5), "/bob/secret.txt", "/link"),
		fzPacket(fzReadlink, uint32(6), "/link"), fzPacket(fzSetstat, uint32(7), "/up.txt", uint32(1), uint64(0)),
		fzPacket(fzMkdir, uint32(8), "/d", uint32(0)), fzPacket(fzRmdir, uint32(9), "/d"), fzPacket(fzRemove, uint32(10), "/up.txt"),
		fzPacket(fzLstat, uint32(11), "/"), fzPacket(fzFstat, uint32(12), "0")))
	f.Add(fzJoin(fzPacket(fzExtended, uint32(1), "posix-rename@openssh.com", "/a", "/b"), fzPacket(fzExtended, uint32(2), "limits@openssh.com"),
		fzPacket(fzExtended, uint32(3), "statvfs@openssh.com", "/"), fzPacket(fzExtended, uint32(4), "hardlink@openssh.com", "/bob/secret.txt", "/h")))
	f.Add([]byte{0, 0, 0, 5, fzOpen, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, fzRead})

	e := testenv.New(f, testenv.Options{SFTP: true})
	e.User(f, "bob", 0)
	e.User(f, "mallory", 1<<20)
	ctx := context.Background()
	u, err := e.Core.DB.Q().UserByName(ctx, "bob")
	if err != nil {
		f.Fatal(err)
	}
	bob := auth.Principal{UserID: u.ID, Name: "bob", Protocol: audit.CLI}
	secret := []byte("BOB-SECRET-CONTENT-0123456789")
	if _, err := e.Core.Files.Create(ctx, bob, "/secret.txt", bytes.NewReader(secret), files.CreateOptions{Size: int64(len(secret))}); err != nil {
		f.Fatal(err)
	}
	nc, err := net.DialTimeout("tcp", e.SFTPAddr, 5*time.Second)
	if err != nil {
		f.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: "mallory", Auth: []ssh.AuthMethod{ssh.Password("password-of-mallory")}, HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	c, chans, reqs, err := ssh.NewClientConn(nc, e.SFTPAddr, cfg)
	if err != nil {
		f.Fatal(err)
	}
	sc := ssh.NewClient(c, chans, reqs)
	f.Cleanup(func() { sc.Close() })
	init := fzPacket(fzInit, uint32(3))

	f.Fuzz(func(t *testing.T, in []byte) {
		sess, err := sc.NewSession()
		if err != nil {
			t.Fatalf("new session (did the server die?): %v", err)
		}
		defer sess.Close()
		stdin, _ := sess.StdinPipe()
		stdout, _ := sess.StdoutPipe()
		if err := sess.RequestSubsystem("sftp"); err != nil {
			t.Fatal(err)
		}
		got := make(chan []byte, 1)
		go func() { b, _ := io.ReadAll(stdout); got <- b }()
		stdin.Write(init)
		stdin.Write(in)
		stdin.Close()
		// A packet cut short leaves the server waiting for its end: that is no hang, and
		// closing the session ends it; a complete stream must end by itself.
		var out []byte
		select {
		case out = <-got:
		case <-time.After(20 * time.Second):
			sess.Close()
			out = <-got
		}
		if bytes.Contains(out, secret) {
			t.Fatalf("mallory's SFTP session returned bob's file")
		}
		r, err := e.Core.Files.Open(ctx, bob, "/secret.txt")
		if err != nil {
			t.Fatalf("bob's file after mallory's requests: %v", err)
		}
		b, err := io.ReadAll(r.Seeker())
		r.Close()
		if err != nil || !bytes.Equal(b, secret) {
			t.Fatalf("bob's file changed: %q, %v", b, err)
		}
	})
}
