package sftpd

import (
	"io"
	"sync"

	"github.com/pkg/sftp"

	"github.com/coffer-mft/coffer/internal/files"
)

// Read-ahead for downloads. SFTP clients read in 32 KiB requests (OpenSSH) with many in
// flight, which pkg/sftp serves concurrently and not quite in order; each would decrypt a
// whole 64 KiB chunk on its own. downloadReader instead reads aligned blocks of whole
// chunks and keeps the last few, so each chunk is decrypted once. Memory per open file:
// at most readBlocks × readBlockSize.
const (
	readBlockSize = 256 << 10
	readBlocks    = 6
)

type block struct {
	off   int64
	ready chan struct{} // closed when data and err are set
	data  []byte
	err   error
	used  uint64
}

// downloadReader is an io.ReaderAt over a files.Reader, safe for concurrent use.
type downloadReader struct {
	r *files.Reader

	mu     sync.Mutex
	blocks []*block
	clock  uint64
	failed error // set by TransferError: the client went away
}

func newDownloadReader(r *files.Reader) *downloadReader { return &downloadReader{r: r} }

func (d *downloadReader) ReadAt(p []byte, off int64) (int, error) {
	size := d.r.Size()
	if off < 0 {
		return 0, status(sftp.ErrSSHFxBadMessage, "negative offset")
	}
	n := 0
	for n < len(p) && off < size {
		b := d.block(off - off%readBlockSize)
		if b.err != nil && len(b.data) == 0 {
			return n, toStatus(b.err)
		}
		i := off - b.off
		if i >= int64(len(b.data)) {
			return n, io.ErrUnexpectedEOF
		}
		m := copy(p[n:], b.data[i:])
		n += m
		off += int64(m)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// block returns the block at off, reading it unless it is cached or being read.
func (d *downloadReader) block(off int64) *block {
	d.mu.Lock()
	d.clock++
	for _, b := range d.blocks {
		if b.off == off {
			b.used = d.clock
			d.mu.Unlock()
			<-b.ready
			return b
		}
	}
	b := &block{off: off, ready: make(chan struct{}), used: d.clock}
	if len(d.blocks) < readBlocks {
		d.blocks = append(d.blocks, b)
	} else {
		// Evict the least recently used. A reader still copying from it keeps its own
		// pointer; buffers are never reused, so that is safe.
		lru := 0
		for i, c := range d.blocks {
			if c.used < d.blocks[lru].used {
				lru = i
			}
		}
		d.blocks[lru] = b
	}
	d.mu.Unlock()

	buf := make([]byte, readBlockSize)
	m, err := d.r.ReadAt(buf, off)
	if err == io.EOF {
		err = nil
	}
	b.data, b.err = buf[:m], err
	if err != nil {
		b.data = nil
		d.mu.Lock()
		for i, c := range d.blocks {
			if c == b { // do not cache a failure
				d.blocks = append(d.blocks[:i], d.blocks[i+1:]...)
				break
			}
		}
		d.mu.Unlock()
	}
	close(b.ready)
	return b
}

// TransferError is called by pkg/sftp when the session ends with the file still open.
func (d *downloadReader) TransferError(err error) {
	d.mu.Lock()
	d.failed = err
	d.mu.Unlock()
}

// Close audits the download (files.Reader does, with the bytes read).
func (d *downloadReader) Close() error {
	d.mu.Lock()
	failed := d.failed
	d.blocks = nil
	d.mu.Unlock()
	return d.r.CloseWith(failed)
}
