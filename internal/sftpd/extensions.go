package sftpd

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/pkg/sftp"
)

// limits@openssh.com (OpenSSH PROTOCOL, "sftp: Extension request limits@openssh.com") tells
// a client how large its requests may be and how many handles it may hold. OpenSSH's sftp
// (8.6+) asks for it and then sizes its reads and writes to match; without it, it uses
// 32 KiB. pkg/sftp does not implement the extension, so extensionFilter does, on the bytes
// between the SSH channel and pkg/sftp's request server.
//
// The values are what this server really accepts, and each is enforced:
const (
	limitsExtension = "limits@openssh.com"

	// maxPacketLength is the longest SFTP packet pkg/sftp reads (its maxMsgLength; the
	// uint32 length field itself not counted, as in OpenSSH): a longer one ends the session.
	maxPacketLength = 256 << 10

	// maxReadLength is the most data one read returns: the request server's maxTxPacket,
	// set to it where the server is made (sftp.WithRSMaxTxPacket); pkg/sftp serves longer
	// reads short. Each read in flight costs a buffer of this size. With OpenSSH's sftp,
	// 64 KiB cost the server less CPU per GiB downloaded than 32 KiB (2.8 s against 3.1 s,
	// median of three), though about 14% of the read-ahead blocks (reader.go) are then
	// read and decrypted twice, evicted before all their reads were served; 128 KiB and
	// 255 KiB gained nothing more.
	maxReadLength = 64 << 10

	// maxWriteLength is the longest write we ask clients for. pkg/sftp would take up to
	// nearly maxPacketLength, but writes wait out of order in the upload's reorder buffer:
	// with openSSHRequests in flight, up to openSSHRequests-1 of them (see the checks
	// below). 64 KiB keeps that within maxPendingBytes (63 × 64 KiB < 4 MiB).
	maxWriteLength = 64 << 10

	// maxOpenHandles caps the files and directories one session holds open (each open
	// upload or download holds buffers of up to a few MiB; see writer.go and reader.go).
	// OpenSSH's sftp opens one file at a time but keeps min(64, max-open-handles) requests
	// in flight, so less than 64 would slow it down.
	maxOpenHandles = 64

	// openSSHRequests is OpenSSH sftp's requests in flight by default (-R).
	openSSHRequests = 64
)

// Relations the values must keep; a line that breaks one does not compile (a negative
// constant has no uint64). First: a client that writes maxWriteLength with
// openSSHRequests in flight never overflows an upload's reorder buffer (writer.go).
const (
	_ = uint64(maxPendingBytes - (openSSHRequests-1)*maxWriteLength)
	_ = uint64(maxPendingPieces - (openSSHRequests - 1))
	_ = uint64(maxPacketLength - maxWriteLength - 1024) // room for the write's header and handle
	_ = uint64(maxOpenHandles - openSSHRequests)        // OpenSSH keeps min(64, handles) in flight
)

// SFTP packet types and framing the filter needs (draft-ietf-secsh-filexfer-02).
const (
	fxpInit          = 1
	fxpVersion       = 2
	fxpExtended      = 200
	fxpExtendedReply = 201

	// limitsRequestLen is the length of a limits@openssh.com request: type, id, name.
	limitsRequestLen = 1 + 4 + 4 + len(limitsExtension)
	// maxVersionPacket bounds the VERSION packet held back to be extended; pkg/sftp's is
	// about 100 bytes. A longer first packet passes unchanged.
	maxVersionPacket = 4 << 10
)

// extensionFilter stands between an SSH channel and pkg/sftp's request server. It adds
// limits@openssh.com to the server's VERSION packet and answers limits@openssh.com
// requests itself; every other byte passes through unchanged, in both directions.
//
// It tracks packet framing on both sides. pkg/sftp writes a packet in two Writes (header,
// payload) under its own lock, so a reply from the filter goes out under the filter's
// lock and only between pkg/sftp's packets: at once if pkg/sftp is between packets, else
// when its packet ends. A request that comes before the client's INIT, or whose framing
// pkg/sftp would refuse, is passed on for pkg/sftp to answer or fail as it does alone.
type extensionFilter struct {
	ch    io.ReadWriteCloser
	reply [4]uint64 // max packet, read and write lengths, open handles

	done      chan struct{} // closed by Close
	closeOnce sync.Once

	// Read side: used only by pkg/sftp's one reading goroutine.
	head     [4 + limitsRequestLen]byte // start of the packet being read
	headOff  int                        // head[headOff:headEnd] is still to be delivered
	headEnd  int
	body     uint32 // bytes of the packet still to be passed through after head
	skip     uint32 // bytes of an answered request still to be discarded
	raw      bool   // framing lost (a length pkg/sftp refuses): pass everything through
	rerr     error  // returned once head has been delivered
	started  bool   // a packet has been read
	initSeen bool   // the first packet was INIT

	// Write side.
	mu          sync.Mutex
	out         framer        // pkg/sftp's packets, as written
	versionDone bool          // the first packet has been written (extended if VERSION)
	version     []byte        // the first packet, held until complete
	queued      []byte        // a reply waiting for a packet boundary
	drained     chan struct{} // closed when queued has been written (or could not be)
	werr        error         // sticky: the channel failed
}

func newExtensionFilter(ch io.ReadWriteCloser) *extensionFilter {
	return &extensionFilter{
		ch:    ch,
		reply: [4]uint64{maxPacketLength, maxReadLength, maxWriteLength, maxOpenHandles},
		done:  make(chan struct{}),
	}
}

// Read delivers the client's packets to pkg/sftp, minus the requests the filter answers.
func (f *extensionFilter) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		switch {
		case f.headOff < f.headEnd:
			n := copy(p, f.head[f.headOff:f.headEnd])
			f.headOff += n
			return n, nil
		case f.rerr != nil:
			return 0, f.rerr
		case f.raw:
			return f.ch.Read(p)
		case f.body > 0:
			n, err := f.ch.Read(p[:min(len(p), int(f.body))])
			f.body -= uint32(n)
			return n, err
		case f.skip > 0:
			// p is scratch space until something is returned in it.
			n, err := f.ch.Read(p[:min(len(p), int(f.skip))])
			f.skip -= uint32(n)
			if err != nil {
				if err == io.EOF && f.skip > 0 {
					err = io.ErrUnexpectedEOF
				}
				f.rerr = err
			}
		default:
			f.next()
		}
	}
}

// next reads the start of the next packet into head and decides what to do with it.
func (f *extensionFilter) next() {
	f.headOff, f.headEnd = 0, 0
	n, err := io.ReadFull(f.ch, f.head[:4])
	f.headEnd = n
	if err != nil {
		f.rerr = err // io.EOF between packets, io.ErrUnexpectedEOF within the length
		return
	}
	length := binary.BigEndian.Uint32(f.head[:4])
	if length == 0 || length > maxPacketLength {
		f.raw = true // pkg/sftp refuses it and ends the session
		return
	}
	// Enough of the packet to recognise a limits request, and never more than the packet.
	want := min(length, uint32(limitsRequestLen))
	n, err = io.ReadFull(f.ch, f.head[4:4+want])
	f.headEnd += n
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		f.rerr = err
		return
	}
	first := !f.started
	f.started = true
	typ := f.head[4]
	if first && typ == fxpInit {
		f.initSeen = true
	}
	f.body = length - want
	if !f.initSeen || typ != fxpExtended || want < uint32(limitsRequestLen) {
		return
	}
	b := f.head[4:f.headEnd]
	if binary.BigEndian.Uint32(b[5:9]) != uint32(len(limitsExtension)) || string(b[9:]) != limitsExtension {
		return
	}
	// Ours: answer it, and drop it with whatever follows the name (OpenSSH ignores that too).
	f.headEnd, f.skip, f.body = 0, f.body, 0
	if err := f.answer(binary.BigEndian.Uint32(b[1:5])); err != nil {
		f.rerr = err
	}
}

// answer sends the limits reply to request id: at once if pkg/sftp is between packets and
// the VERSION has gone out, else queued for the end of pkg/sftp's packet. At most one
// reply waits; the reader waits for it to go out before queueing another.
func (f *extensionFilter) answer(id uint32) error {
	reply := binary.BigEndian.AppendUint32(make([]byte, 0, 4+1+4+8*len(f.reply)), 1+4+8*uint32(len(f.reply)))
	reply = append(reply, fxpExtendedReply)
	reply = binary.BigEndian.AppendUint32(reply, id)
	for _, v := range f.reply {
		reply = binary.BigEndian.AppendUint64(reply, v)
	}
	for {
		f.mu.Lock()
		switch {
		case f.werr != nil:
			f.mu.Unlock()
			return f.werr
		case f.queued == nil && f.versionDone && f.out.boundary():
			err := f.send(reply)
			f.mu.Unlock()
			return err
		case f.queued == nil:
			f.queued, f.drained = reply, make(chan struct{})
			f.mu.Unlock()
			return nil
		}
		drained := f.drained
		f.mu.Unlock()
		select {
		case <-drained:
		case <-f.done:
			return net.ErrClosed
		}
	}
}

// Write passes pkg/sftp's packets on, extending the first if it is the VERSION, and
// sends a queued reply at the first packet boundary.
func (f *extensionFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.werr != nil {
		return 0, f.werr
	}
	n := 0
	if !f.versionDone {
		n = f.out.frame(p)
		f.version = append(f.version, p[:n]...)
		complete := f.out.boundary()
		if complete || !isVersion(f.version) {
			if complete && isVersion(f.version) {
				f.version = withExtension(f.version, limitsExtension, "1")
			}
			f.versionDone = true
			err := f.send(f.version)
			f.version = nil
			if err != nil {
				return 0, err
			}
		}
	}
	// Send p, with the queued reply, if any, at the first packet boundary in it (which
	// may be where p starts or ends).
	start := n
	for {
		if f.queued != nil && f.versionDone && f.out.boundary() {
			if err := f.send(p[start:n]); err != nil {
				return start, err
			}
			start = n
			if err := f.flush(); err != nil {
				return n, err
			}
		}
		if n == len(p) {
			break
		}
		n += f.out.frame(p[n:])
	}
	if err := f.send(p[start:]); err != nil {
		return start, err
	}
	return n, nil
}

// isVersion reports whether b, the first packet so far, may still be a VERSION packet
// small enough to hold back.
func isVersion(b []byte) bool {
	if len(b) >= 4 && binary.BigEndian.Uint32(b) > maxVersionPacket {
		return false
	}
	return len(b) < 5 || b[4] == fxpVersion
}

// withExtension appends an extension pair to a complete VERSION packet.
func withExtension(pkt []byte, name, data string) []byte {
	out := make([]byte, 0, len(pkt)+4+len(name)+4+len(data))
	out = append(out, pkt...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(name)))
	out = append(out, name...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
	out = append(out, data...)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

// send writes b to the channel; f.mu is held. An error is sticky, and drops the queued
// reply: a reader waiting for it to go out must not wait for ever, since pkg/sftp, which
// ignores its write errors, would not close the filter while its reader is blocked.
func (f *extensionFilter) send(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := f.ch.Write(b); err != nil {
		f.werr = err
		if f.queued != nil {
			f.queued = nil
			close(f.drained)
		}
		return err
	}
	return nil
}

// flush sends the queued reply and wakes a reader waiting to queue another; f.mu is held.
func (f *extensionFilter) flush() error {
	q := f.queued
	f.queued = nil
	close(f.drained)
	return f.send(q)
}

// Close closes the channel and releases a reader waiting for a reply to go out. It does
// not take f.mu, which a Write blocked on the channel may hold.
func (f *extensionFilter) Close() error {
	err := f.ch.Close()
	f.closeOnce.Do(func() { close(f.done) })
	return err
}

// framer follows the packets of a byte stream: uint32 length, then that many bytes.
type framer struct {
	length [4]byte
	got    int    // bytes of length seen; 0 between packets
	left   uint32 // bytes of the packet after length still to come
}

// frame consumes b up to the end of the current packet and returns how much it took.
func (r *framer) frame(b []byte) int {
	n := 0
	for r.got < 4 && n < len(b) {
		r.length[r.got] = b[n]
		r.got++
		n++
		if r.got == 4 {
			r.left = binary.BigEndian.Uint32(r.length[:])
		}
	}
	if r.got < 4 {
		return n
	}
	k := min(uint32(len(b)-n), r.left)
	r.left -= k
	n += int(k)
	if r.left == 0 {
		r.got = 0
	}
	return n
}

// boundary reports whether the stream is between packets.
func (r *framer) boundary() bool { return r.got == 0 }

// handleLimit is a session's handlers with the files and directories open at once
// capped: opening one more is refused with SSH_FX_FAILURE and a message saying why, as
// OpenSSH's sftp-server does when it runs out of handles. Everything else is the
// session's own (embedded, so that optional pkg/sftp interfaces stay visible).
type handleLimit struct {
	*session
	slots chan struct{} // one token per open handle
}

// withHandleLimit returns s's handlers with at most limit files and directories open.
func withHandleLimit(s *session, limit int) sftp.Handlers {
	l := &handleLimit{session: s, slots: make(chan struct{}, limit)}
	h := s.handlers()
	h.FileGet, h.FilePut, h.FileList = l, l, l
	return h
}

// acquire takes a slot for a new handle, or says why there is none.
func (l *handleLimit) acquire(path string) (*slot, error) {
	select {
	case l.slots <- struct{}{}:
		return &slot{free: func() { <-l.slots }}, nil
	default:
		l.srv.log.Debug("sftp open refused: too many open handles", "path", path, "user", l.p.Name, "limit", cap(l.slots))
		return nil, status(sftp.ErrSSHFxFailure, fmt.Sprintf(
			"too many open files: this server allows %d files and directories open at once in one session; close some and try again", cap(l.slots)))
	}
}

func (l *handleLimit) Fileread(r *sftp.Request) (io.ReaderAt, error) {
	s, err := l.acquire(r.Filepath)
	if err != nil {
		return nil, err
	}
	rd, err := l.session.Fileread(r)
	if err != nil {
		s.release()
		return nil, err
	}
	return &openReader{ReaderAt: rd, slot: s.holding(rd)}, nil
}

func (l *handleLimit) Filewrite(r *sftp.Request) (io.WriterAt, error) {
	s, err := l.acquire(r.Filepath)
	if err != nil {
		return nil, err
	}
	w, err := l.session.Filewrite(r)
	if err != nil {
		s.release()
		return nil, err
	}
	return &openWriter{WriterAt: w, slot: s.holding(w)}, nil
}

func (l *handleLimit) OpenFile(r *sftp.Request) (sftp.WriterAtReaderAt, error) {
	s, err := l.acquire(r.Filepath)
	if err != nil {
		return nil, err
	}
	rw, err := l.session.OpenFile(r)
	if err != nil {
		s.release()
		return nil, err
	}
	return &openFile{WriterAtReaderAt: rw, slot: s.holding(rw)}, nil
}

// Filelist counts directories opened for reading ("List"); stat ("Stat", "Lstat") opens
// no handle.
func (l *handleLimit) Filelist(r *sftp.Request) (sftp.ListerAt, error) {
	if r.Method != "List" {
		return l.session.Filelist(r)
	}
	s, err := l.acquire(r.Filepath)
	if err != nil {
		return nil, err
	}
	la, err := l.session.Filelist(r)
	if err != nil {
		s.release()
		return nil, err
	}
	return &openLister{ListerAt: la, slot: s.holding(la)}, nil
}

// slot is one open handle's place under the cap, given back when pkg/sftp closes the
// handle (on the client's CLOSE, or when the session ends).
type slot struct {
	held any // what the handlers returned: closed and told of transfer errors as before
	free func()
	once sync.Once
}

func (s *slot) holding(v any) *slot { s.held = v; return s }
func (s *slot) release()            { s.once.Do(s.free) }

func (s *slot) Close() error {
	defer s.release()
	if c, ok := s.held.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (s *slot) TransferError(err error) {
	if t, ok := s.held.(sftp.TransferError); ok {
		t.TransferError(err)
	}
}

type (
	openReader struct {
		io.ReaderAt
		*slot
	}
	openWriter struct {
		io.WriterAt
		*slot
	}
	openFile struct {
		sftp.WriterAtReaderAt
		*slot
	}
	openLister struct {
		sftp.ListerAt
		*slot
	}
)
