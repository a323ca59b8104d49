package sftpd_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/coffer-mft/coffer/internal/sftpd"
)

// What the server announces in limits@openssh.com (internal/sftpd/extensions.go).
const (
	wantMaxPacket  = 256 << 10
	wantMaxRead    = 256<<10 - 1024
	wantMaxWrite   = 64 << 10
	wantMaxHandles = 64
)

// rawSFTP speaks SFTP packets over an SSH session, for requests no client library sends.
type rawSFTP struct {
	t   *testing.T
	in  io.WriteCloser
	out io.Reader
}

// rawSession opens the sftp subsystem as user; the connection is closed after a minute
// at the latest, so that a server that stops answering fails the test instead of hanging it.
func rawSession(t *testing.T, e *env, user string) *rawSFTP {
	t.Helper()
	sc, nc, err := e.sshDial(t, user, ssh.Password("password-of-"+user))
	if err != nil {
		t.Fatal(err)
	}
	watchdog := time.AfterFunc(time.Minute, func() { nc.Close() })
	t.Cleanup(func() { watchdog.Stop(); sc.Close() })
	sess, err := sc.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	in, err := sess.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.RequestSubsystem("sftp"); err != nil {
		t.Fatal(err)
	}
	return &rawSFTP{t: t, in: in, out: out}
}

// send writes one packet: type, then the fields (uint32, uint64, string or []byte as is).
func (r *rawSFTP) send(typ byte, fields ...any) {
	r.t.Helper()
	b := sftpd.Packet(typ, fields...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := r.in.Write(b); err != nil {
		r.t.Fatalf("send packet type %d: %v", typ, err)
	}
}

// recv reads one packet and returns its type and the rest.
func (r *rawSFTP) recv() (byte, *reader) {
	r.t.Helper()
	var n [4]byte
	if _, err := io.ReadFull(r.out, n[:]); err != nil {
		r.t.Fatalf("receive: %v", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(n[:]))
	if _, err := io.ReadFull(r.out, b); err != nil || len(b) == 0 {
		r.t.Fatalf("receive %d bytes: %v", len(b), err)
	}
	return b[0], &reader{t: r.t, b: b[1:]}
}

// expect reads a packet of type typ answering request id.
func (r *rawSFTP) expect(typ byte, id uint32) *reader {
	r.t.Helper()
	got, p := r.recv()
	if got == fxpStatus && typ != fxpStatus {
		p.uint32()
		r.t.Fatalf("request %d: status %d %q, want packet type %d", id, p.uint32(), p.string(), typ)
	}
	if got != typ {
		r.t.Fatalf("request %d: packet type %d, want %d", id, got, typ)
	}
	if gotID := p.uint32(); gotID != id {
		r.t.Fatalf("packet type %d answers request %d, want %d", typ, gotID, id)
	}
	return p
}

// expectStatus reads the status answering request id and returns its code and message.
func (r *rawSFTP) expectStatus(id uint32) (uint32, string) {
	r.t.Helper()
	p := r.expect(fxpStatus, id)
	return p.uint32(), p.string()
}

type reader struct {
	t *testing.T
	b []byte
}

func (r *reader) take(n int) []byte {
	r.t.Helper()
	if len(r.b) < n {
		r.t.Fatalf("packet too short: %d bytes left, want %d", len(r.b), n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *reader) uint32() uint32 { return binary.BigEndian.Uint32(r.take(4)) }
func (r *reader) uint64() uint64 { return binary.BigEndian.Uint64(r.take(8)) }
func (r *reader) string() string { return string(r.take(int(r.uint32()))) }

const (
	fxpInit          = 1
	fxpVersion       = 2
	fxpOpen          = 3
	fxpClose         = 4
	fxpRead          = 5
	fxpWrite         = 6
	fxpStat          = 17
	fxpRealpath      = 16
	fxpStatus        = 101
	fxpHandle        = 102
	fxpData          = 103
	fxpName          = 104
	fxpExtended      = 200
	fxpExtendedReply = 201

	fxfRead  = 1
	fxfWrite = 2
	fxfCreat = 8
	fxfTrunc = 16
)

// The server announces limits@openssh.com, answers it, and the values are the real ones:
// a read of more than max-read-length is served short to exactly that, a write of
// max-write-length and a packet of max-packet-length are accepted, and one byte more
// than max-packet-length ends the session. Other requests are served as before.
func TestLimitsExtension(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "lim", 0)
	s := rawSession(t, e, "lim")

	s.send(fxpInit, uint32(3))
	typ, v := s.recv()
	if typ != fxpVersion || v.uint32() != 3 {
		t.Fatalf("answer to INIT: type %d", typ)
	}
	exts := map[string][]string{}
	for len(v.b) > 0 {
		name := v.string()
		exts[name] = append(exts[name], v.string())
	}
	if got := exts["limits@openssh.com"]; len(got) != 1 || got[0] != "1" {
		t.Fatalf("VERSION announces limits@openssh.com as %q, want once as \"1\"; all: %v", got, exts)
	}
	if got := exts["posix-rename@openssh.com"]; len(got) != 1 {
		t.Fatalf("pkg/sftp's own extensions are gone from VERSION: %v", exts)
	}

	checkLimits := func(id uint32) {
		t.Helper()
		p := s.expect(fxpExtendedReply, id)
		got := [4]uint64{p.uint64(), p.uint64(), p.uint64(), p.uint64()}
		if want := [4]uint64{wantMaxPacket, wantMaxRead, wantMaxWrite, wantMaxHandles}; got != want || len(p.b) != 0 {
			t.Fatalf("limits: %v and %d more bytes, want %v", got, len(p.b), want)
		}
	}
	s.send(fxpExtended, uint32(7), "limits@openssh.com")
	checkLimits(7)

	// Requests after it work; other extended requests still reach pkg/sftp.
	s.send(fxpRealpath, uint32(8), ".")
	if p := s.expect(fxpName, 8); p.uint32() != 1 || p.string() != "/" {
		t.Fatal("realpath . is not /")
	}
	s.send(fxpExtended, uint32(9), "nope@example.com", "arg")
	if code, _ := s.expectStatus(9); code != fxUnsupported {
		t.Fatalf("unknown extended request: status %d, want %d", code, fxUnsupported)
	}
	// Bytes after the name are ignored, as by OpenSSH's sftp-server.
	s.send(fxpExtended, uint32(10), "limits@openssh.com", "extra")
	checkLimits(10)

	// Upload: a write of max-write-length, then one filling a packet of max-packet-length.
	s.send(fxpOpen, uint32(11), "/big.bin", uint32(fxfWrite|fxfCreat|fxfTrunc), uint32(0))
	h := s.expect(fxpHandle, 11).string()
	data := make([]byte, 2*wantMaxPacket)
	rand.Read(data)
	writeHeader := 1 + 4 + (4 + len(h)) + 8 + 4
	pieces := [][]byte{data[:wantMaxWrite], data[wantMaxWrite : wantMaxWrite+wantMaxPacket-writeHeader]}
	off := 0
	for i, piece := range pieces {
		id := uint32(12 + i)
		s.send(fxpWrite, id, h, uint64(off), string(piece))
		if code, msg := s.expectStatus(id); code != 0 {
			t.Fatalf("write of %d bytes: status %d %q", len(piece), code, msg)
		}
		off += len(piece)
	}
	s.send(fxpClose, uint32(14), h)
	if code, msg := s.expectStatus(14); code != 0 {
		t.Fatalf("close after upload: status %d %q", code, msg)
	}

	// Download: reads are served up to max-read-length.
	s.send(fxpOpen, uint32(15), "/big.bin", uint32(fxfRead), uint32(0))
	h = s.expect(fxpHandle, 15).string()
	for i, n := range []uint32{wantMaxRead, wantMaxRead + 1, 4 * wantMaxRead} {
		id := uint32(16 + i)
		s.send(fxpRead, id, h, uint64(1000), n)
		got := s.expect(fxpData, id).string()
		if want := data[1000 : 1000+min(n, wantMaxRead)]; !bytes.Equal([]byte(got), want) {
			t.Fatalf("read of %d bytes: got %d bytes, want %d", n, len(got), len(want))
		}
	}
	s.send(fxpClose, uint32(19), h)
	if code, msg := s.expectStatus(19); code != 0 {
		t.Fatalf("close after download: status %d %q", code, msg)
	}

	// One byte more than max-packet-length: pkg/sftp ends the session.
	tooLong := binary.BigEndian.AppendUint32(nil, wantMaxPacket+1)
	s.in.Write(append(tooLong, fxpWrite))
	if n, err := io.ReadFull(s.out, make([]byte, 4)); !errors.Is(err, io.EOF) {
		t.Fatalf("after a packet longer than max-packet-length the session goes on: read %d bytes, %v", n, err)
	}
}

// A session holds at most max-open-handles files and directories open at once; one more
// is refused with a message saying why, and closing one frees its place.
func TestOpenHandleLimit(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "many", 0)
	c, _ := e.login(t, "many")
	if err := put(t, c, "/a.txt", []byte("a")); err != nil {
		t.Fatal(err)
	}
	var open []*sftp.File
	for range wantMaxHandles - 1 {
		f, err := c.Open("/a.txt")
		if err != nil {
			t.Fatalf("open %d: %v", len(open)+1, err)
		}
		open = append(open, f)
	}
	up, err := c.Create("/b.txt") // uploads count too
	if err != nil {
		t.Fatal(err)
	}
	for name, try := range map[string]func() error{
		"open":    func() error { _, err := c.Open("/a.txt"); return err },
		"create":  func() error { _, err := c.Create("/c.txt"); return err },
		"readdir": func() error { _, err := c.ReadDir("/"); return err },
	} {
		if err := try(); code(err) != fxFailure || !strings.Contains(err.Error(), "too many open files") {
			t.Fatalf("%s with %d handles open: %v, want a failure saying too many open files", name, wantMaxHandles, err)
		}
	}
	if _, err := c.Stat("/a.txt"); err != nil {
		t.Fatalf("stat opens no handle, yet: %v", err)
	}
	if _, err := up.Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	if err := up.Close(); err != nil {
		t.Fatal(err)
	}
	if list, err := c.ReadDir("/"); err != nil || len(list) != 2 {
		t.Fatalf("readdir after a close: %d entries, %v", len(list), err)
	}
	for _, f := range open {
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := get(t, c, "/b.txt"); err != nil || string(got) != "b" {
		t.Fatalf("the upload opened at the limit: %q, %v", got, err)
	}
}

// OpenSSH's sftp asks for the limits, uses them (debug output), and moves a file of a
// few MiB up and down intact.
func TestOpenSSHUsesLimits(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "olim", 0)
	o := newOpenSSH(t, e, "olim")
	data := make([]byte, 5<<20+12345)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(o.dir, "up.bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	batch := filepath.Join(o.dir, "batch")
	if err := os.WriteFile(batch, []byte("put up.bin /up.bin\nget /up.bin down.bin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"-b", batch, "-P", o.port, "-vvv"}
	for _, opt := range o.opts {
		if opt != "LogLevel=ERROR" {
			args = append(args, opt)
		} else {
			args = args[:len(args)-1] // and its "-o"
		}
	}
	out, err := o.run("sftp", append(args, "olim@127.0.0.1")...)
	if err != nil {
		t.Fatalf("sftp: %v\n%s", err, out)
	}
	if strings.Contains(out, `Unrecognised server extension "limits@openssh.com"`) {
		t.Skip("this OpenSSH sftp predates limits@openssh.com (8.6)")
	}
	var limitLines []string
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, "limits") || strings.Contains(line, "buffer sizes") || strings.Contains(line, "handle limit") {
			limitLines = append(limitLines, strings.TrimSpace(line))
		}
	}
	got := strings.Join(limitLines, "\n")
	t.Logf("sftp's debug output about limits:\n%s", got)
	for _, want := range []string{
		`Server supports extension "limits@openssh.com" revision 1`,
		"Received limits reply",
		"server upload/download buffer sizes 65536 / 261120; using 65536 / 261120",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("sftp's debug output lacks %q; its lines about limits:\n%s", want, got)
		}
	}
	back, err := os.ReadFile(filepath.Join(o.dir, "down.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(back) != sha256.Sum256(data) {
		t.Fatalf("downloaded %d bytes with another SHA-256 than the %d uploaded", len(back), len(data))
	}
}

// Hostile or broken requests get an error status and the session goes on; a packet
// without an id, or anything before INIT, ends the session.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "mal", 0)
	s := rawSession(t, e, "mal")
	s.send(fxpInit, uint32(3))
	if typ, _ := s.recv(); typ != fxpVersion {
		t.Fatalf("answer to INIT: type %d", typ)
	}
	for i, tc := range []struct {
		typ    byte
		fields []any
		code   uint32
	}{
		{fxpOpen, []any{"/a"}, fxBadMessage},                             // no flags
		{fxpStat, []any{uint32(1 << 30)}, fxBadMessage},                  // path longer than the packet
		{fxpStat, []any{string(make([]byte, 5000))}, fxBadMessage},       // path beyond 4096 bytes
		{fxpRead, []any{"1", uint64(1 << 63), uint32(10)}, fxBadMessage}, // offset beyond int64
		{fxpRead, []any{"no-such-handle", uint64(0), uint32(10)}, fxFailure},
		{fxpWrite, []any{"no-such-handle", uint64(0), "x"}, fxFailure},
		{fxpClose, []any{"no-such-handle"}, fxFailure},
		{99, []any{"x"}, fxUnsupported},               // no such request type
		{fxpVersion, []any{uint32(3)}, fxUnsupported}, // a server's packet
	} {
		id := uint32(100 + i)
		s.send(tc.typ, append([]any{id}, tc.fields...)...)
		if code, msg := s.expectStatus(id); code != tc.code {
			t.Errorf("request type %d %v: status %d %q, want %d", tc.typ, tc.fields, code, msg, tc.code)
		}
	}
	s.send(fxpRealpath, uint32(200), "x/../y")
	if p := s.expect(fxpName, 200); p.uint32() != 1 || p.string() != "/y" {
		t.Fatal("the session does not work after malformed requests")
	}
	// A packet too short to hold an id ends the session.
	s.in.Write([]byte{0, 0, 0, 2, fxpStat, 0})
	if n, err := io.ReadFull(s.out, make([]byte, 4)); !errors.Is(err, io.EOF) {
		t.Fatalf("after a packet without an id the session goes on: read %d bytes, %v", n, err)
	}

	// Anything but INIT first ends the session unanswered.
	s = rawSession(t, e, "mal")
	s.send(fxpRealpath, uint32(1), ".")
	if n, err := io.ReadFull(s.out, make([]byte, 4)); !errors.Is(err, io.EOF) {
		t.Fatalf("a request before INIT was answered: read %d bytes, %v", n, err)
	}
}

// Reads at any offset and length, across the download's read-ahead blocks, in order and
// out of order, return the file's bytes.
func TestReadsAnywhere(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "rd", 0)
	c, _ := e.login(t, "rd")
	data := make([]byte, 3<<20+777)
	rand.Read(data)
	if err := put(t, c, "/f.bin", data); err != nil {
		t.Fatal(err)
	}
	s := rawSession(t, e, "rd")
	s.send(fxpInit, uint32(3))
	s.recv()
	s.send(fxpOpen, uint32(1), "/f.bin", uint32(fxfRead), uint32(0))
	h := s.expect(fxpHandle, 1).string()
	const block = 512 << 10
	type read struct {
		off uint64
		n   uint32
	}
	var reads []read
	for off := uint64(block - 100); off < uint64(len(data)); off += 65000 { // sequential, unaligned
		reads = append(reads, read{off, 65000})
	}
	reads = append(reads, read{0, 10}, read{2*block - 1, 2}, read{uint64(len(data)) - 5, 100}, read{block, wantMaxRead},
		read{uint64(len(data)) / 2, 1}, read{7, 0}, read{uint64(len(data)) - 1, 1})
	for i, r := range reads {
		id := uint32(10 + i)
		s.send(fxpRead, id, h, r.off, r.n)
		got := s.expect(fxpData, id).string()
		end := min(r.off+uint64(min(r.n, wantMaxRead)), uint64(len(data)))
		if !bytes.Equal([]byte(got), data[r.off:end]) {
			t.Fatalf("read of %d at %d: %d bytes, not the file's %d", r.n, r.off, len(got), end-r.off)
		}
	}
	s.send(fxpRead, uint32(1000), h, uint64(len(data)), uint32(10))
	if code, _ := s.expectStatus(1000); code != fxEOF {
		t.Fatalf("read at the end: status %d, want EOF", code)
	}
}

// A connection holds at most 10 session channels at once.
func TestChannelsPerConnection(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "chans", 0)
	sc, _, err := e.sshDial(t, "chans", ssh.Password("password-of-chans"))
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	var sessions []*ssh.Session
	for i := range 10 {
		sess, err := sc.NewSession()
		if err != nil {
			t.Fatalf("session %d: %v", i+1, err)
		}
		sessions = append(sessions, sess)
	}
	if _, err := sc.NewSession(); err == nil || !strings.Contains(err.Error(), "10 sessions") {
		t.Fatalf("an 11th session: %v", err)
	}
	sessions[0].Close()
	// The server frees the place once it has seen the channel closed: poll briefly.
	deadline := time.Now().Add(10 * time.Second)
	for {
		sess, err := sc.NewSession()
		if err == nil {
			sess.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no session after closing one: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
