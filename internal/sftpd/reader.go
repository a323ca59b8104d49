package sftpd

import (
	"io"

	"github.com/coffer-mft/coffer/internal/files"
)

// Read-ahead for downloads. Clients read in requests of 32 to 255 KiB; each served on its
// own would decrypt (and, when not chunk-aligned, decrypt twice) a 64 KiB chunk of the
// encrypted file. A download instead reads aligned blocks of whole chunks, one storage
// read and readBlockSize/64 KiB decryptions each, and serves requests from them. While a
// client reads sequentially, the block after the current one is read and decrypted in
// the background, so the session's loop rarely waits for the disk or the cipher. Memory
// per open file: at most two blocks, taken from the pool only while reading.
const readBlockSize = files.ReadAheadSize

// rblock is one block of plaintext, filled by fill.
type rblock struct {
	idx   int64         // the block's index: it starts at idx*readBlockSize
	buf   []byte        // its bytes (a pool buffer); set before ready is closed
	err   error         // why it could not be read
	ready chan struct{} // closed when buf and err are set
}

// download is a file open for reading. Only the session's loop calls its methods; the
// goroutine filling a block touches only that block until it closes ready.
type download struct {
	srv  *Server // for bug and hook
	r    *files.Reader
	size int64
	pool *bufferPool
	cur  *rblock // the block being served: ready, without error; or nil
	next *rblock // the block after cur, being filled or filled; or nil
	end  int64   // where the previous read ended: a read starting here is sequential
	sent int64   // bytes served, which the audit record counts
}

func newDownload(srv *Server, r *files.Reader) *download {
	return &download{srv: srv, r: r, size: r.Size(), pool: srv.pool}
}

func (d *download) fill(b *rblock) {
	defer func() {
		// A panic (a bug) fails this block's requests; the server goes on.
		if v := recover(); v != nil {
			b.err = d.srv.bug("read-ahead", v)
			close(b.ready)
		}
	}()
	d.srv.hook("read-ahead")
	off := b.idx * readBlockSize
	b.buf = d.pool.get(int(min(readBlockSize, d.size-off)))
	n, err := d.r.ReadAt(b.buf, off)
	switch {
	case n == len(b.buf):
		err = nil
	case err == nil || err == io.EOF:
		err = io.ErrUnexpectedEOF // the file is shorter than its entry says
	}
	b.err = err
	close(b.ready)
}

// drop waits for b to be filled and gives its buffer back.
func (d *download) drop(b *rblock) {
	if b != nil {
		<-b.ready
		d.pool.put(b.buf)
	}
}

// ready reports whether the n bytes at off can be served without waiting for a read.
func (d *download) ready(off int64, n int) bool {
	for _, b := range []*rblock{d.cur, d.next} {
		if b == nil {
			continue
		}
		select {
		case <-b.ready:
		default:
			continue
		}
		start := b.idx * readBlockSize
		if off >= start && off+int64(n) <= start+int64(len(b.buf)) {
			return true
		}
	}
	return false
}

// block makes the block of index idx current and returns it.
func (d *download) block(idx int64) (*rblock, error) {
	switch {
	case d.cur != nil && d.cur.idx == idx:
		return d.cur, nil
	case d.next != nil && d.next.idx == idx:
		d.drop(d.cur)
		d.cur, d.next = d.next, nil
		<-d.cur.ready
	default:
		// Not sequential: start over there.
		d.drop(d.cur)
		d.drop(d.next)
		d.cur, d.next = &rblock{idx: idx, ready: make(chan struct{})}, nil
		d.fill(d.cur)
	}
	if err := d.cur.err; err != nil {
		d.drop(d.cur) // a failure is not kept: the next request tries again
		d.cur = nil
		return nil, err
	}
	return d.cur, nil
}

// readInto fills dst with the file's bytes at off; off+len(dst) must not pass the end.
func (d *download) readInto(dst []byte, off int64) (int, error) {
	sequential := off == d.end
	n := 0
	for n < len(dst) {
		b, err := d.block(off / readBlockSize)
		if err != nil {
			return n, err
		}
		m := copy(dst[n:], b.buf[off-b.idx*readBlockSize:])
		n += m
		off += int64(m)
	}
	d.end = off
	d.sent += int64(n)
	if sequential && d.next == nil && d.cur != nil && (d.cur.idx+1)*readBlockSize < d.size {
		d.next = &rblock{idx: d.cur.idx + 1, ready: make(chan struct{})}
		go d.fill(d.next)
	}
	return n, nil
}

// close gives the buffers back and closes the file, which audits the download with the
// bytes served (not those read ahead); cause, if not nil, records it as interrupted.
func (d *download) close(cause error) error {
	d.drop(d.cur)
	d.drop(d.next)
	d.cur, d.next = nil, nil
	return d.r.CloseSent(d.sent, cause)
}
