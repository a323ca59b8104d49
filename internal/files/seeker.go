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
// time) does not decrypt a chunk for every piece. It holds one ReadAheadSize buffer.
type Seeker struct {
	r        *Reader
	pos      int64
	buf      []byte
	bufStart int64 // file offset of buf[0]
}

// Seeker returns a read-ahead view of r positioned at its start.
func (r *Reader) Seeker() *Seeker { return &Seeker{r: r} }

// Read implements io.Reader.
func (s *Seeker) Read(p []byte) (int, error) {
	size := s.r.Size()
	if s.pos >= size {
		return 0, io.EOF
	}
	if s.pos < s.bufStart || s.pos >= s.bufStart+int64(len(s.buf)) {
		if cap(s.buf) == 0 {
			s.buf = make([]byte, ReadAheadSize)
		}
		start := s.pos - s.pos%ReadAheadSize
		n, err := s.r.ReadAt(s.buf[:cap(s.buf)], start)
		if err != nil && !errors.Is(err, io.EOF) {
			s.buf = s.buf[:0]
			return 0, err
		}
		s.buf, s.bufStart = s.buf[:n], start
		if s.pos >= start+int64(n) {
			return 0, io.ErrUnexpectedEOF
		}
	}
	n := copy(p, s.buf[s.pos-s.bufStart:])
	s.pos += int64(n)
	return n, nil
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
