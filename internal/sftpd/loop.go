package sftpd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
)

// The request loop of one SFTP session. A reader goroutine frames the client's packets
// into pooled buffers; the loop decodes and serves them one at a time, in order, and
// appends the responses to one output buffer that goes out in a single channel write
// when no request is waiting (or it is full). Serving in order keeps an upload one
// sequential stream and lets a download read ahead; the work that is slow runs beside
// the loop: files.Create consumes an upload's queue in its own goroutine, and a
// download's next block is decrypted while the current one is sent.
//
// What a session can hold is bounded: requests read and not yet released take tokens of
// a budget of requestBudget bytes (the reader stops reading when it is spent), an upload
// queues at most uploadQueue of them, writes ahead of their upload's stream wait in
// copies of at most maxPendingBytes per session (and maxReorderBytes for the server), a
// download reads ahead one block, and at most maxOpenHandles files and directories are
// open.
const (
	budgetUnit    = 64 << 10
	requestBudget = 16 * budgetUnit // 1 MiB of requests read ahead per session
	outBufferSize = maxPacketLength + 1024
	readdirBatch  = 100       // entries per READDIR answer, as OpenSSH's sftp-server
	readdirBytes  = 128 << 10 // and at most about this many bytes of them
)

// Relations the values must keep (a negative constant has no uint64): the longest packet
// fits in the request budget, and a DATA answer of maxReadLength fits the output buffer.
const (
	_ = uint64(requestBudget - (maxPacketLength+4+budgetUnit-1)/budgetUnit*budgetUnit)
	_ = uint64(outBufferSize - maxReadLength - 64)
)

// inPacket is one client packet, without its length field, in a pool buffer.
type inPacket struct {
	buf   []byte
	units int   // budget tokens it holds
	err   error // instead of a packet: why the client's stream ended
}

// packetSource owns the buffers and the budget that inPackets take; release gives both
// back, from whichever goroutine is done with the packet. It also counts the copies of
// writes that arrived ahead of their upload's stream (see writer.go), against a limit
// per session and one for the whole server.
type packetSource struct {
	pool    *bufferPool
	budget  chan struct{} // a token per budgetUnit bytes held
	held    atomic.Int64  // bytes of this session's reorder copies
	allHeld *atomic.Int64 // of all sessions'
}

// hold counts n bytes of a reorder copy, or reports false if that would take the session
// past maxPendingBytes or the server past maxReorderBytes.
func (ps *packetSource) hold(n int) bool {
	if ps.held.Add(int64(n)) > maxPendingBytes {
		ps.held.Add(-int64(n))
		return false
	}
	if ps.allHeld.Add(int64(n)) > maxReorderBytes {
		ps.allHeld.Add(-int64(n))
		ps.held.Add(-int64(n))
		return false
	}
	return true
}

// drop gives back what a piece holds: its packet, or the count of its reorder copy.
func (ps *packetSource) drop(pc piece) {
	ps.release(pc.pkt)
	if pc.held > 0 {
		ps.held.Add(-int64(pc.held))
		ps.allHeld.Add(-int64(pc.held))
	}
}

func (ps *packetSource) release(p inPacket) {
	if p.buf != nil {
		ps.pool.put(p.buf)
	}
	for range p.units {
		<-ps.budget
	}
}

// openHandle is a handle the client holds: exactly one of dl, up, dir is set.
type openHandle struct {
	path string
	dl   *download
	up   *upload
	dir  *lister
}

// session is one SFTP subsystem of one authenticated principal on one SSH channel.
// Everything but the reader goroutine and the goroutines of uploads and read-ahead runs
// on the loop's goroutine, so its fields need no lock.
type session struct {
	srv *Server
	p   auth.Principal
	ctx context.Context // ends when the connection does
	ch  io.ReadWriter
	src *packetSource

	in   chan inPacket // from the reader goroutine
	stop chan struct{} // closed when the loop ends: the reader stops delivering

	out  []byte // responses not yet written: a pool buffer, or nil
	werr error  // the channel failed on write: nothing more is written

	handles    map[string]*openHandle
	nextHandle uint64
	inited     bool
}

func newSession(srv *Server, p auth.Principal, ctx context.Context, ch io.ReadWriter) *session {
	return &session{
		srv: srv, p: p, ctx: ctx, ch: ch,
		src:     &packetSource{pool: srv.pool, budget: make(chan struct{}, requestBudget/budgetUnit), allHeld: &srv.reordered},
		in:      make(chan inPacket, requestBudget/budgetUnit),
		stop:    make(chan struct{}),
		handles: map[string]*openHandle{},
	}
}

// serve runs the session until the client's stream ends or breaks the protocol; it
// returns why (io.EOF when the client closed it). Open files are closed first: uploads
// still open are kept as partial uploads, downloads are audited as interrupted.
func (s *session) serve() error {
	go s.readLoop()
	var err error
	for err == nil {
		var p inPacket
		select {
		case p = <-s.in:
		default:
			s.flush() // nothing waits: send what is answered before blocking
			p = <-s.in
		}
		if p.err != nil {
			err = p.err
			break
		}
		err = s.handleContained(p)
		if err == nil {
			err = s.werr
		}
	}
	s.end(err)
	return err
}

// readLoop frames the client's packets, taking budget for each before reading its body.
func (s *session) readLoop() {
	var head [4]byte
	deliver := func(p inPacket) bool {
		select {
		case s.in <- p:
			return true
		case <-s.stop:
			s.src.release(p)
			return false
		}
	}
	for {
		if _, err := io.ReadFull(s.ch, head[:]); err != nil {
			deliver(inPacket{err: err})
			return
		}
		n := binary.BigEndian.Uint32(head[:])
		if n == 0 || n > maxPacketLength {
			deliver(inPacket{err: fmt.Errorf("packet of %d bytes; this server takes 1 to %d", n, maxPacketLength)})
			return
		}
		p := inPacket{units: int((n + budgetUnit - 1) / budgetUnit)}
		for i := range p.units {
			select {
			case s.src.budget <- struct{}{}:
			case <-s.stop:
				s.src.release(inPacket{units: i})
				return
			case <-s.ctx.Done():
				// The connection ended while the budget was spent: the loop, waiting
				// for a request, learns it here (the channel is not read meanwhile).
				s.src.release(inPacket{units: i})
				deliver(inPacket{err: io.ErrUnexpectedEOF})
				return
			}
		}
		p.buf = s.src.pool.get(int(n))
		if _, err := io.ReadFull(s.ch, p.buf); err != nil {
			s.src.release(p)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			deliver(inPacket{err: err})
			return
		}
		if !deliver(p) {
			return
		}
	}
}

// handleContained is handle, with a panic (a bug) turned into the error that ends the
// session: its files are then closed as at any end (uploads kept as partial uploads),
// and the server goes on.
func (s *session) handleContained(p inPacket) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = s.srv.bug("request", v)
		}
	}()
	s.srv.hook("request")
	return s.handle(p)
}

// errProtocol ends a session whose client does not speak SFTP v3 as it must.
var errProtocol = errors.New("protocol violation")

// handle serves one packet and releases it (an upload's WRITE hands it on instead).
func (s *session) handle(p inPacket) error {
	r, ok, perr := parseRequest(p.buf)
	switch {
	case !s.inited:
		s.src.release(p)
		if r.typ != fxpInit || !ok {
			return fmt.Errorf("%w: the first packet is of type %d, not INIT", errProtocol, r.typ)
		}
		s.inited = true
		s.reserve(256)
		s.out = appendVersion(s.out)
		return nil
	case !ok:
		s.src.release(p)
		return fmt.Errorf("%w: a packet of %d bytes has no id", errProtocol, len(p.buf))
	case r.typ == fxpInit:
		s.src.release(p)
		return fmt.Errorf("%w: a second INIT", errProtocol)
	case perr != nil:
		s.src.release(p)
		s.reply(r.id, status(fxBadMessage, fmt.Sprintf("malformed request of type %d: %v", r.typ, perr)))
		return nil
	}
	switch r.typ {
	case fxpRead:
		s.read(&r)
	case fxpWrite:
		s.write(&r, p) // releases p
		return nil
	default:
		// Anything else may take a while (the database, a commit): what is answered
		// goes out first.
		s.flush()
		s.serveOther(&r)
	}
	s.src.release(p)
	return nil
}

// reserve makes room for n more bytes of responses in s.out.
func (s *session) reserve(n int) {
	if s.out != nil && len(s.out)+n > cap(s.out) {
		s.flush()
	}
	if s.out == nil {
		s.out = s.src.pool.get(outBufferSize)[:0]
	}
}

// flush writes the pending responses and gives their buffer back.
func (s *session) flush() {
	if s.out == nil {
		return
	}
	if len(s.out) > 0 && s.werr == nil {
		if _, err := s.ch.Write(s.out); err != nil {
			s.werr = err
		}
	}
	s.src.pool.put(s.out)
	s.out = nil
}

// reply answers request id with err's status, or OK if err is nil.
func (s *session) reply(id uint32, err error) {
	if err == nil {
		s.reserve(64)
		s.out = appendStatus(s.out, id, fxOK, "Success")
		return
	}
	st := toStatus(err)
	s.reserve(64 + len(st.msg))
	s.out = appendStatus(s.out, id, st.code, st.msg)
}

func (s *session) replyHandle(id uint32, name string) {
	s.reserve(64 + len(name))
	b, start := beginPacket(s.out, fxpHandle, id)
	b = appendString(b, name)
	s.out = endPacket(b, start)
}

func (s *session) replyAttrs(id uint32, a fileAttrs) {
	s.reserve(64)
	b, start := beginPacket(s.out, fxpAttrs, id)
	b = appendAttrs(b, a)
	s.out = endPacket(b, start)
}

var errBadHandle = status(fxFailure, "invalid handle: the file is not open in this session")

// lookup returns the open handle the request names.
func (s *session) lookup(r *request) (*openHandle, error) {
	h := s.handles[string(r.handle)]
	if h == nil {
		return nil, errBadHandle
	}
	return h, nil
}

// newHandle registers h under a new name (handleSlot said there is room).
func (s *session) newHandle(h *openHandle) string {
	s.nextHandle++
	name := strconv.FormatUint(s.nextHandle, 10)
	s.handles[name] = h
	return name
}

// handleSlot says why no more files or directories can be opened, or nil if one can.
func (s *session) handleSlot(path string) error {
	if len(s.handles) < maxOpenHandles {
		return nil
	}
	s.srv.log.Debug("sftp open refused: too many open handles", "path", path, "user", s.p.Name, "limit", maxOpenHandles)
	return status(fxFailure, fmt.Sprintf(
		"too many open files: this server allows %d files and directories open at once in one session; close some and try again", maxOpenHandles))
}

// read answers a READ with up to maxReadLength bytes, read straight into the response.
func (s *session) read(r *request) {
	h, err := s.lookup(r)
	switch {
	case err != nil:
	case h.up != nil:
		err = status(fxOpUnsupported, "a file open for writing cannot be read: close it and open it for reading")
	case h.dl == nil:
		err = errBadHandle
	case r.offset >= h.dl.size:
		err = status(fxEOF, "end of file")
	}
	if err != nil {
		s.reply(r.id, err)
		return
	}
	n := int(min(int64(r.length), int64(maxReadLength), h.dl.size-r.offset))
	if !h.dl.ready(r.offset, n) {
		s.flush() // about to wait for the disk: let the client have what is answered
	}
	s.reserve(13 + n)
	b, start := beginPacket(s.out, fxpData, r.id)
	b = appendU32(b, uint32(n))
	m, err := h.dl.readInto(b[len(b):len(b)+n], r.offset)
	if err != nil || m != n {
		s.out = s.out[:start]
		if err == nil {
			err = status(fxFailure, "the file is shorter than its recorded size")
		}
		s.reply(r.id, s.report("read", h.path, err))
		return
	}
	s.out = endPacket(b[:len(b)+n], start)
}

// write hands a WRITE's data to its upload, with the packet that holds it.
func (s *session) write(r *request, p inPacket) {
	h, err := s.lookup(r)
	switch {
	case err != nil:
	case h.dl != nil:
		err = status(fxPermissionDenied, "the file is open for reading only")
	case h.up == nil:
		err = errBadHandle
	}
	if err != nil {
		s.src.release(p)
		s.reply(r.id, err)
		return
	}
	if h.up.full() {
		s.flush() // about to wait for the upload to catch up
	}
	s.reply(r.id, h.up.write(p, r.data, r.offset))
}

// serveOther serves every request but READ and WRITE.
func (s *session) serveOther(r *request) {
	switch r.typ {
	case fxpOpen:
		s.open(r)
	case fxpOpendir:
		p := cleanPath(r.path)
		err := s.handleSlot(p)
		var l *lister
		if err == nil {
			l, err = s.openDir(p)
		}
		if err != nil {
			s.reply(r.id, err)
			return
		}
		s.replyHandle(r.id, s.newHandle(&openHandle{path: p, dir: l}))
	case fxpClose:
		h, err := s.lookup(r)
		if err != nil {
			s.reply(r.id, err)
			return
		}
		delete(s.handles, string(r.handle))
		if h.dl == nil {
			s.reply(r.id, s.closeHandle(h, nil))
			return
		}
		// Nothing the client could act on can fail when a download closes: the answer
		// goes out first, and the client's next request (served after this) crosses the
		// commit of the download's audit record.
		s.reply(r.id, nil)
		s.flush()
		if err := h.dl.close(nil); err != nil {
			s.srv.log.Warn("sftp download close", "path", h.path, "user", s.p.Name, "err", err)
		}
	case fxpReaddir:
		s.readdir(r)
	case fxpFstat:
		h, err := s.lookup(r)
		if err != nil {
			s.reply(r.id, err)
			return
		}
		if h.dl != nil {
			s.replyAttrs(r.id, attrsOf(h.dl.r.Entry))
			return
		}
		s.stat(r.id, h.path)
	case fxpStat, fxpLstat:
		s.stat(r.id, cleanPath(r.path))
	case fxpSetstat:
		s.reply(r.id, s.setstat(cleanPath(r.path), r.attrs))
	case fxpFsetstat:
		h, err := s.lookup(r)
		switch {
		case err != nil:
		case h.up != nil:
			err = s.setstatUpload(h.up, h.path, r.attrs) // this handle's upload, not another of the path
		default:
			err = s.setstat(h.path, r.attrs)
		}
		s.reply(r.id, err)
	case fxpMkdir:
		s.reply(r.id, s.mkdir(cleanPath(r.path)))
	case fxpRmdir:
		s.reply(r.id, s.rmdir(cleanPath(r.path)))
	case fxpRemove:
		s.reply(r.id, s.remove(cleanPath(r.path)))
	case fxpRename:
		s.reply(r.id, s.rename(cleanPath(r.path), cleanPath(r.path2), false))
	case fxpRealpath:
		p := cleanPath(r.path)
		s.reserve(64 + 2*len(p))
		b, start := beginPacket(s.out, fxpName, r.id)
		b = appendU32(b, 1)
		b = appendString(b, p)
		b = appendString(b, p)
		b = appendU32(b, 0) // no attributes
		s.out = endPacket(b, start)
	case fxpReadlink:
		s.reply(r.id, status(fxFailure, "not a symbolic link: this server has none"))
	case fxpSymlink:
		// OpenSSH sends the link's own path second.
		s.reply(r.id, s.refuseLink(cleanPath(r.path2)))
	case fxpExtended:
		s.extended(r)
	default:
		s.reply(r.id, status(fxOpUnsupported, fmt.Sprintf("unsupported request type %d", r.typ)))
	}
}

func (s *session) extended(r *request) {
	switch r.ext {
	case extPosixRename:
		s.reply(r.id, s.rename(cleanPath(r.path), cleanPath(r.path2), true))
	case extHardlink:
		s.reply(r.id, s.refuseLink(cleanPath(r.path2)))
	case extStatVFS:
		v, err := s.statVFS(cleanPath(r.path))
		if err != nil {
			s.reply(r.id, err)
			return
		}
		s.reserve(128)
		b, start := beginPacket(s.out, fxpExtendedReply, r.id)
		for _, f := range v {
			b = appendU64(b, f)
		}
		s.out = endPacket(b, start)
	case extLimits:
		s.reserve(64)
		b, start := beginPacket(s.out, fxpExtendedReply, r.id)
		for _, v := range [...]uint64{maxPacketLength, maxReadLength, maxWriteLength, maxOpenHandles} {
			b = appendU64(b, v)
		}
		s.out = endPacket(b, start)
	default:
		s.reply(r.id, status(fxOpUnsupported, "unsupported extended request"))
	}
}

// open serves OPEN: any of write, append, create or truncate is an upload (read-write
// too: pkg/sftp's Client.Create opens so), read alone a download.
func (s *session) open(r *request) {
	p := cleanPath(r.path)
	err := s.handleSlot(p)
	h := &openHandle{path: p}
	if err == nil {
		switch {
		case r.pflags&(fxfWrite|fxfAppend|fxfCreat|fxfTrunc) != 0:
			h.up, err = s.openWrite(p, r.pflags)
		case r.pflags&fxfRead != 0:
			h.dl, err = s.openRead(p)
		default:
			err = status(fxFailure, "bad file flags: open for reading, writing or both")
		}
	}
	if err != nil {
		s.reply(r.id, err)
		return
	}
	s.replyHandle(r.id, s.newHandle(h))
}

// stat answers STAT, LSTAT and FSTAT of a path.
func (s *session) stat(id uint32, p string) {
	a, err := s.statPath(p)
	if err != nil {
		s.reply(id, err)
		return
	}
	s.replyAttrs(id, a)
}

func (s *session) readdir(r *request) {
	h, err := s.lookup(r)
	if err == nil && h.dir == nil {
		err = errBadHandle
	}
	var entries []dirEntry
	if err == nil {
		entries, err = h.dir.next(readdirBatch, readdirBytes)
	}
	if err == nil && len(entries) == 0 {
		err = status(fxEOF, "end of directory")
	}
	if err != nil {
		s.reply(r.id, err)
		return
	}
	size := 64
	for _, e := range entries {
		size += 2*len(e.name) + 128
	}
	s.reserve(size)
	b, start := beginPacket(s.out, fxpName, r.id)
	b = appendU32(b, uint32(len(entries)))
	now := time.Now()
	for _, e := range entries {
		b = appendString(b, e.name)
		b = appendLongname(b, e, now)
		b = appendAttrs(b, e.attrs)
	}
	s.out = endPacket(b, start)
}

// closeHandle closes an open file or directory. cause, if not nil, is why the session
// ended with it open: an upload is then incomplete and kept as a partial upload, a
// download is audited as interrupted.
func (s *session) closeHandle(h *openHandle, cause error) error {
	switch {
	case h.dl != nil:
		return h.dl.close(cause)
	case h.up != nil:
		if cause != nil {
			h.up.fail(status(fxConnectionLost, "the connection was lost during the upload: "+cause.Error()))
		}
		return h.up.close()
	}
	return nil
}

// end closes what the client left open, sends what is answered, and stops the reader.
func (s *session) end(err error) {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	for name, h := range s.handles {
		delete(s.handles, name)
		s.closeHandle(h, err)
	}
	s.flush()
	close(s.stop)
	for {
		select {
		case p := <-s.in:
			s.src.release(p)
		default:
			return
		}
	}
}
