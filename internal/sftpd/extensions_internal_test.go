package sftpd

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"testing/synctest"
)

// Unit tests of extensionFilter's framing. They are in package sftpd because the filter
// is unexported; the tests against the running server are in extensions_test.go.

// fakeChannel is the SSH channel side of the filter: Read returns the client's bytes in
// the chunks given, Write records what the filter sends.
type fakeChannel struct {
	chunks [][]byte

	mu     sync.Mutex
	out    bytes.Buffer
	closed bool
}

func (c *fakeChannel) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

func (c *fakeChannel) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *fakeChannel) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *fakeChannel) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

// Packet is packet, for the tests of package sftpd_test.
var Packet = packet

// packet frames a packet of type typ whose body is the fields (uint32, uint64, string,
// or []byte as is).
func packet(typ byte, fields ...any) []byte {
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
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("packet: field of type %T", f))
		}
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func limitsReply(id uint32) []byte {
	return packet(fxpExtendedReply, id, uint64(maxPacketLength), uint64(maxReadLength), uint64(maxWriteLength), uint64(maxOpenHandles))
}

// pkg/sftp v1.13.12's VERSION packet, and the same with limits@openssh.com.
var (
	versionPacket = packet(fxpVersion, uint32(3), "hardlink@openssh.com", "1", "posix-rename@openssh.com", "1", "statvfs@openssh.com", "2")
	versionLimits = packet(fxpVersion, uint32(3), "hardlink@openssh.com", "1", "posix-rename@openssh.com", "1", "statvfs@openssh.com", "2", "limits@openssh.com", "1")
)

// splits returns the ways to cut b in two, then one byte at a time.
func splits(b []byte) [][][]byte {
	var out [][][]byte
	for i := 0; i <= len(b); i++ {
		out = append(out, [][]byte{b[:i], b[i:]})
	}
	var bytewise [][]byte
	for i := range b {
		bytewise = append(bytewise, b[i:i+1])
	}
	return append(out, bytewise)
}

// readPacket reads one packet as pkg/sftp does: the length, then the rest.
func readPacket(r io.Reader) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	b := make([]byte, 4+binary.BigEndian.Uint32(n[:]))
	copy(b, n[:])
	_, err := io.ReadFull(r, b[4:])
	return b, err
}

// The client's stream, cut anywhere: pkg/sftp reads every packet but the limits requests
// unchanged, and each of those is answered once, after the VERSION.
func TestFilterReadSplits(t *testing.T) {
	t.Parallel()
	passed := [][]byte{
		packet(fxpInit, uint32(3)),
		packet(16, uint32(2), "."), // REALPATH
		packet(fxpExtended, uint32(4), "nope@example.com"),
		packet(fxpExtended, uint32(5), "limits@openssh.co"),                        // one byte short
		packet(fxpExtended, uint32(6), "limits@openssh.comm"),                      // one byte long
		packet(6, uint32(7), "h", uint64(0), string(bytes.Repeat([]byte{7}, 300))), // WRITE
	}
	ours := [][]byte{
		packet(fxpExtended, uint32(1), limitsExtension),
		packet(fxpExtended, uint32(3), limitsExtension, "ignored"),
		packet(fxpExtended, uint32(8), limitsExtension),
	}
	in := bytes.Join([][]byte{passed[0], ours[0], passed[1], ours[1], passed[2], passed[3], passed[4], passed[5], ours[2]}, nil)
	wantOut := bytes.Join([][]byte{versionLimits, limitsReply(1), limitsReply(3), limitsReply(8)}, nil)
	for _, chunks := range splits(in) {
		ch := &fakeChannel{chunks: chunks}
		f := newExtensionFilter(ch)
		var got [][]byte
		for {
			p, err := readPacket(f)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("chunks %d: read: %v", len(chunks[0]), err)
			}
			if p[4] == fxpInit {
				// pkg/sftp answers INIT with its VERSION, in one write.
				if _, err := f.Write(versionPacket); err != nil {
					t.Fatal(err)
				}
			}
			got = append(got, p)
		}
		if !slicesEqual(got, passed) {
			t.Fatalf("chunks %d: pkg/sftp read %q, want %q", len(chunks[0]), got, passed)
		}
		if out := ch.written(); !bytes.Equal(out, wantOut) {
			t.Fatalf("chunks %d: filter wrote\n%x, want\n%x", len(chunks[0]), out, wantOut)
		}
	}
}

func slicesEqual(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// pkg/sftp's writes, cut anywhere, reach the channel unchanged but for the VERSION; a
// reply asked for at any point goes out at the next packet boundary, never inside a packet.
func TestFilterWriteSplits(t *testing.T) {
	t.Parallel()
	// What pkg/sftp sends after the VERSION: a status, an empty-bodied packet (not real,
	// but framing allows it), a data packet.
	after := [][]byte{
		packet(101, uint32(9), uint32(0), "ok", ""),
		{0, 0, 0, 0},
		packet(103, uint32(10), string(bytes.Repeat([]byte{3}, 40))),
	}
	stream := bytes.Join(append([][]byte{versionPacket}, after...), nil)
	boundaries := []int{0}
	for _, p := range append([][]byte{versionPacket}, after...) {
		boundaries = append(boundaries, boundaries[len(boundaries)-1]+len(p))
	}
	for i := 0; i <= len(stream); i++ {
		for j := i; j <= len(stream); j++ {
			ch := &fakeChannel{}
			f := newExtensionFilter(ch)
			for _, w := range [][]byte{stream[:i], stream[i:j]} {
				if len(w) > 0 {
					if n, err := f.Write(w); n != len(w) || err != nil {
						t.Fatalf("write: %d, %v", n, err)
					}
				}
			}
			// The reply is asked for with pkg/sftp at j, and goes out at the first
			// boundary from j on, and never before the VERSION.
			if err := f.answer(42); err != nil {
				t.Fatal(err)
			}
			if len(stream[j:]) > 0 {
				if _, err := f.Write(stream[j:]); err != nil {
					t.Fatal(err)
				}
			}
			at := len(stream)
			for _, b := range boundaries {
				if b >= j && b >= len(versionPacket) {
					at = b
					break
				}
			}
			want := bytes.Join([][]byte{versionLimits, stream[len(versionPacket):at], limitsReply(42), stream[at:]}, nil)
			if got := ch.written(); !bytes.Equal(got, want) {
				t.Fatalf("writes cut at %d and %d: filter wrote\n%x, want\n%x", i, j, got, want)
			}
		}
	}
}

// Only a VERSION that comes first is extended; anything else passes unchanged.
func TestFilterVersionOnlyFirst(t *testing.T) {
	t.Parallel()
	status := packet(101, uint32(1), uint32(8), "", "")
	long := packet(fxpVersion, uint32(3), string(make([]byte, maxVersionPacket)))
	for name, tc := range map[string]struct{ in, want []byte }{
		"version":        {versionPacket, versionLimits},
		"status first":   {append(bytes.Clone(status), versionPacket...), append(bytes.Clone(status), versionPacket...)},
		"version twice":  {append(bytes.Clone(versionPacket), versionPacket...), append(bytes.Clone(versionLimits), versionPacket...)},
		"version > 4KiB": {long, long},
	} {
		for _, chunks := range splits(tc.in) {
			ch := &fakeChannel{}
			f := newExtensionFilter(ch)
			for _, c := range chunks {
				if len(c) > 0 {
					if _, err := f.Write(c); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := ch.written(); !bytes.Equal(got, tc.want) {
				t.Fatalf("%s, written in %d chunks: got %x, want %x", name, len(chunks), got, tc.want)
			}
		}
	}
}

// Hostile or broken input reaches pkg/sftp as it came, for it to refuse; the filter
// neither answers nor waits for bytes the packet does not have.
func TestFilterPassesMalformed(t *testing.T) {
	t.Parallel()
	initPkt := packet(fxpInit, uint32(3))
	limits := packet(fxpExtended, uint32(1), limitsExtension)
	tooLong := binary.BigEndian.AppendUint32(nil, maxPacketLength+1)
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte // what pkg/sftp reads
		err  error  // and then
	}{
		{"empty", nil, nil, io.EOF},
		{"limits before INIT", limits, limits, io.EOF},
		{"zero length", append(bytes.Clone(initPkt), 0, 0, 0, 0, 1, 2, 3), append(bytes.Clone(initPkt), 0, 0, 0, 0, 1, 2, 3), io.EOF},
		{"longer than pkg/sftp reads", append(append(bytes.Clone(initPkt), tooLong...), limits...), append(append(bytes.Clone(initPkt), tooLong...), limits...), io.EOF},
		{"claims 4 GiB", append(bytes.Clone(initPkt), 0xff, 0xff, 0xff, 0xff, fxpExtended), append(bytes.Clone(initPkt), 0xff, 0xff, 0xff, 0xff, fxpExtended), io.EOF},
		{"cut in the length", append(bytes.Clone(initPkt), 0, 0), append(bytes.Clone(initPkt), 0, 0), io.ErrUnexpectedEOF},
		{"cut in the header", append(bytes.Clone(initPkt), limits[:12]...), append(bytes.Clone(initPkt), limits[:12]...), io.ErrUnexpectedEOF},
		{"cut after the name", append(bytes.Clone(initPkt), packet(fxpExtended, uint32(1), limitsExtension, "more")[:len(limits)+2]...), initPkt, io.ErrUnexpectedEOF},
		{"too short for the name", append(bytes.Clone(initPkt), packet(fxpExtended, uint32(1), "x")...), append(bytes.Clone(initPkt), packet(fxpExtended, uint32(1), "x")...), io.EOF},
		{"name length 4 GiB", append(bytes.Clone(initPkt), packet(fxpExtended, uint32(1), uint32(0xffffffff), limitsExtension)...), append(bytes.Clone(initPkt), packet(fxpExtended, uint32(1), uint32(0xffffffff), limitsExtension)...), io.EOF},
	} {
		for _, chunks := range splits(tc.in) {
			ch := &fakeChannel{chunks: chunks}
			f := newExtensionFilter(ch)
			f.Write(versionPacket)
			var got []byte
			buf := make([]byte, 3)
			var err error
			for err == nil {
				var n int
				n, err = f.Read(buf)
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, tc.want) || !errors.Is(err, tc.err) {
				t.Fatalf("%s: pkg/sftp read %x, %v; want %x, %v", tc.name, got, err, tc.want, tc.err)
			}
			wantOut := versionLimits
			if tc.name == "cut after the name" {
				wantOut = append(bytes.Clone(versionLimits), limitsReply(1)...)
			}
			if out := ch.written(); !bytes.Equal(out, wantOut) {
				t.Fatalf("%s: filter wrote %x, want %x", tc.name, out, wantOut)
			}
		}
	}
}

// A reader waiting to queue a second reply is released when the filter is closed or a
// write fails, and a failed channel write is reported to both sides.
func TestFilterCloseAndErrors(t *testing.T) {
	t.Parallel()
	status := packet(101, uint32(9), uint32(0), "", "")
	// waiting starts a reader that answers request 2 while request 1's reply is queued
	// (pkg/sftp is inside a packet), and returns once it waits for that reply to go out.
	waiting := func(t *testing.T, f *extensionFilter) <-chan error {
		f.Write(versionPacket)
		f.Write(status[:6])
		if err := f.answer(1); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- f.answer(2) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("a second reply did not wait for the first: %v", err)
		default:
		}
		return done
	}
	synctest.Test(t, func(t *testing.T) {
		f := newExtensionFilter(&fakeChannel{})
		done := waiting(t, f)
		f.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("answer after Close: %v", err)
		}
		if _, err := f.Write(status[6:]); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write to a closed channel: %v", err)
		}
		if err := f.answer(3); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("answer after a failed write: %v", err)
		}
	})
	// The connection dies under pkg/sftp's write and nothing closes the filter (pkg/sftp
	// ignores write errors): the failed write releases the waiting reader.
	synctest.Test(t, func(t *testing.T) {
		ch := &fakeChannel{}
		f := newExtensionFilter(ch)
		done := waiting(t, f)
		ch.Close()
		if _, err := f.Write(status[6:]); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write to a dead channel: %v", err)
		}
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("answer waiting while the channel failed: %v", err)
		}
	})
}

// pkg/sftp's workers write concurrently (each packet in two writes under its lock) while
// the reader answers limits requests: every packet arrives whole.
func TestFilterConcurrentWriters(t *testing.T) {
	t.Parallel()
	const requests, writers, perWriter = 200, 8, 200
	in := packet(fxpInit, uint32(3))
	for i := range requests {
		in = append(in, packet(fxpExtended, uint32(i), limitsExtension)...)
	}
	ch := &fakeChannel{chunks: [][]byte{in}}
	f := newExtensionFilter(ch)
	var sftpLock sync.Mutex // pkg/sftp's conn lock
	send := func(p []byte) {
		sftpLock.Lock()
		defer sftpLock.Unlock()
		if _, err := f.Write(p[:9]); err != nil {
			t.Error(err)
		}
		if _, err := f.Write(p[9:]); err != nil {
			t.Error(err)
		}
	}
	if p, err := readPacket(f); err != nil || p[4] != fxpInit {
		t.Fatalf("first packet: %x, %v", p, err)
	}
	send(versionPacket)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				send(packet(103, uint32(w<<16|i), string(bytes.Repeat([]byte{byte(i)}, 100+i))))
			}
		})
	}
	if _, err := readPacket(f); !errors.Is(err, io.EOF) {
		t.Fatalf("after the limits requests: %v", err)
	}
	wg.Wait()

	out := ch.written()
	seen := map[uint32]bool{}
	data := 0
	for len(out) > 0 {
		p, err := readPacket(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("output framing broken %d bytes before the end: %v", len(out), err)
		}
		out = out[len(p):]
		switch p[4] {
		case fxpVersion:
		case fxpExtendedReply:
			id := binary.BigEndian.Uint32(p[5:])
			if seen[id] || !bytes.Equal(p, limitsReply(id)) {
				t.Fatalf("reply %x", p)
			}
			seen[id] = true
		case 103:
			id := binary.BigEndian.Uint32(p[5:])
			i := int(id & 0xffff)
			if !bytes.Equal(p, packet(103, id, string(bytes.Repeat([]byte{byte(i)}, 100+i)))) {
				t.Fatalf("data packet %d damaged", id)
			}
			data++
		default:
			t.Fatalf("packet of type %d", p[4])
		}
	}
	if len(seen) != requests || data != writers*perWriter {
		t.Fatalf("%d replies and %d data packets, want %d and %d", len(seen), data, requests, writers*perWriter)
	}
}

// Random input: pkg/sftp reads exactly what a reference parser says it should, and the
// filter answers exactly the well-formed limits requests after INIT.
func FuzzFilterRead(f *testing.F) {
	f.Add(append(packet(fxpInit, uint32(3)), packet(fxpExtended, uint32(1), limitsExtension)...), uint8(1))
	f.Add(append(packet(fxpInit, uint32(3)), packet(fxpExtended, uint32(1), limitsExtension, "x")...), uint8(7))
	f.Add(append(packet(fxpInit, uint32(3)), 0, 0, 0, 0), uint8(3))
	f.Add(packet(fxpExtended, uint32(1), limitsExtension), uint8(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		c := max(int(chunk), 1)
		var chunks [][]byte
		for b := in; len(b) > 0; b = b[min(c, len(b)):] {
			chunks = append(chunks, b[:min(c, len(b))])
		}
		ch := &fakeChannel{chunks: chunks}
		flt := newExtensionFilter(ch)
		flt.Write(versionPacket)
		got, _ := io.ReadAll(flt)
		want, replies := referenceFilter(in)
		if !bytes.Equal(got, want) {
			t.Fatalf("pkg/sftp read %x, want %x", got, want)
		}
		wantOut := bytes.Clone(versionLimits)
		for _, id := range replies {
			wantOut = append(wantOut, limitsReply(id)...)
		}
		if out := ch.written(); !bytes.Equal(out, wantOut) {
			t.Fatalf("filter wrote %x, want %x", out, wantOut)
		}
	})
}

// referenceFilter is what extensionFilter should let through of in, and the ids it answers.
func referenceFilter(in []byte) (pass []byte, replies []uint32) {
	first, initSeen := true, false
	for len(in) > 0 {
		if len(in) < 4 {
			return append(pass, in...), replies
		}
		length := binary.BigEndian.Uint32(in)
		if length == 0 || length > maxPacketLength {
			return append(pass, in...), replies
		}
		body := in[4:]
		if len(body) > 0 && first && body[0] == fxpInit {
			initSeen = true
		}
		first = false
		if initSeen && length >= uint32(limitsRequestLen) && len(body) >= limitsRequestLen && body[0] == fxpExtended &&
			binary.BigEndian.Uint32(body[5:]) == uint32(len(limitsExtension)) && string(body[9:limitsRequestLen]) == limitsExtension {
			replies = append(replies, binary.BigEndian.Uint32(body[1:]))
			if uint32(len(body)) < length {
				return pass, replies // cut short
			}
			in = body[length:]
			continue
		}
		n := min(uint32(len(body)), length)
		pass = append(pass, in[:4+n]...)
		in = body[n:]
	}
	return pass, replies
}
