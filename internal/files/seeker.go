package files

import (
	"errors"
	"io"

	"github.com/coffer-mft/coffer/internal/errs"
)

// ReadAheadSize is how much a Seeker reads from the store at once: whole 64 KiB
// encryption chunks, enough for one system call to move a useful amount of data.
const ReadAheadSize = 512 << 10

// Seeker is a sequential, seekable view of a Reader that reads ahead in large aligned
// blocks, so that protocol code copying in small pieces (net/http copies 32 KiB at a
// time) does not decrypt a chunk for every piece. Once a read has moved on from one
// block to the next, the block after that is read and decrypted in the background while
// the current one is served, so that fetching and decrypting overlap sending (on
// another core). It holds at most two ReadAheadSize buffers. Call Close before closing
// the Reader.
type Seeker struct {
	r    *Reader
	pos  int64
	cur  *block // the block being served, read without error; or nil
	next *block // the block after cur, being read in the background; or nil
}

// block is ReadAheadSize bytes of plaintext (fewer at the end of the file) at start.
type block struct {
	start int64
	buf   []byte
	err   error
	done  chan struct{} // closed when buf and err are final
}

func (b *block) holds(pos int64) bool { return pos >= b.start && pos < b.start+int64(len(b.buf)) }

// Seeker returns a read-ahead view of r positioned at its start.
func (r *Reader) Seeker() *Seeker { return &Seeker{r: r} }

// Read implements io.Reader.
func (s *Seeker) Read(p []byte) (int, error) {
	if s.pos >= s.r.Size() {
		return 0, io.EOF
	}
	if s.cur == nil || !s.cur.holds(s.pos) {
		if err := s.advance(); err != nil {
			return 0, err
		}
	}
	n := copy(p, s.cur.buf[s.pos-s.cur.start:])
	s.pos += int64(n)
	return n, nil
}

// advance makes cur the block holding pos: the one read in the background if it is that
// one, else one read now. When the reader moved on sequentially, it starts reading the
// following block.
func (s *Seeker) advance() error {
	size := s.r.Size()
	start := s.pos - s.pos%ReadAheadSize
	sequential := s.cur != nil && s.cur.start+ReadAheadSize == start
	var spare []byte // a buffer no block uses any more
	if s.cur != nil {
		spare, s.cur = s.cur.buf, nil
	}
	b := s.next
	s.next = nil
	if b != nil {
		<-b.done
		if b.start != start {
			spare, b = b.buf, nil
		}
	}
	if b == nil {
		b = &block{start: start, buf: takeBuffer(&spare, start, size)}
		b.read(s.r)
	}
	if b.err != nil {
		return b.err
	}
	// Bytes read ahead count as read (in the audit record) only once they are served.
	s.r.n.Add(int64(len(b.buf)))
	s.cur = b
	if s.pos >= start+int64(len(b.buf)) {
		return io.ErrUnexpectedEOF // the file is shorter than its entry says
	}
	if after := start + ReadAheadSize; sequential && after < size {
		s.next = &block{start: after, buf: takeBuffer(&spare, after, size), done: make(chan struct{})}
		go s.next.read(s.r)
	}
	return nil
}

// takeBuffer returns *spare (or a new buffer) sized for the block at start, and clears
// *spare.
func takeBuffer(spare *[]byte, start, size int64) []byte {
	buf := *spare
	*spare = nil
	if cap(buf) < ReadAheadSize {
		buf = make([]byte, ReadAheadSize)
	}
	return buf[:min(ReadAheadSize, size-start)]
}

// read fills b from r (without counting the bytes as read) and closes b.done, if any.
func (b *block) read(r *Reader) {
	n, err := r.readAt(b.buf, b.start)
	if err != nil && !errors.Is(err, io.EOF) {
		b.buf, b.err = b.buf[:0], err
	} else {
		b.buf = b.buf[:n]
	}
	if b.done != nil {
		close(b.done)
	}
}

// Close waits for a read in the background to end. The Seeker must not be used after.
func (s *Seeker) Close() {
	if s.next != nil {
		<-s.next.done
		s.next = nil
	}
	s.cur = nil
}

// Seek implements io.Seeker.
func (s *Seeker) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.pos
	case io.SeekEnd:
		offset += s.r.Size()
	default:
		return 0, errs.E(errs.Invalid, "bad whence")
	}
	if offset < 0 {
		return 0, errs.E(errs.Invalid, "seek before the start of the file")
	}
	s.pos = offset
	return offset, nil
}
