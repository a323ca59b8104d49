package crypt

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/coffer-mft/coffer/internal/errs"
)

// This file reads the payload (the STREAM construction of the age specification,
// "Payload", with the cipher of the file's suite) itself instead of through age.DecryptReaderAt: that reader allocates a
// 64 KiB chunk on every ReadAt call and reads one chunk per system call, which made
// downloads allocation- and syscall-bound. This reader reads up to batchChunks chunks
// with one ReadAt into a pooled buffer and decrypts them in place. The tests check
// version 1 files against age's own writer and reader.

const (
	encChunkSize = chunkSize + tagSize
	batchChunks  = 8 // 512 KiB of payload per read
)

var batchPool = sync.Pool{New: func() any { b := make([]byte, batchChunks*encChunkSize); return &b }}

// chunkReader is a random-access reader of a payload's plaintext.
type chunkReader struct {
	aead        cipher.AEAD
	src         io.ReaderAt // the payload: nonce, then chunks
	payloadSize int64
	size        int64 // plaintext
	chunks      int64
}

// newChunkReader checks the payload's size and authenticates its final chunk, so that a
// truncated or extended payload fails at once.
func newChunkReader(fileKey []byte, s suite, src io.ReaderAt, payloadSize int64) (*chunkReader, error) {
	if payloadSize < nonceSize+tagSize {
		return nil, fmt.Errorf("the payload is %d bytes, too short to be one", payloadSize)
	}
	var nonce [nonceSize]byte
	if err := readFullAt(src, nonce[:], 0); err != nil {
		return nil, err
	}
	aead, err := s.payloadAEAD(fileKey, nonce[:])
	if err != nil {
		return nil, err
	}
	enc := payloadSize - nonceSize
	chunks := (enc + encChunkSize - 1) / encChunkSize
	size := enc - chunks*tagSize
	want := (size + chunkSize - 1) / chunkSize
	if size == 0 {
		want = 1 // only an empty file has (exactly one) empty chunk
	}
	if want != chunks {
		return nil, fmt.Errorf("the payload size %d is not that of any file (truncated or extended)", payloadSize)
	}
	r := &chunkReader{aead: aead, src: src, payloadSize: payloadSize, size: size, chunks: chunks}
	last := make([]byte, payloadSize-r.chunkOffset(chunks-1))
	if err := readFullAt(src, last, r.chunkOffset(chunks-1)); err != nil {
		return nil, err
	}
	if _, err := r.open(last, chunks-1); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *chunkReader) chunkOffset(i int64) int64 { return nonceSize + i*encChunkSize }

// open authenticates and decrypts chunk i in place.
func (r *chunkReader) open(b []byte, i int64) ([]byte, error) {
	nonce := chunkNonce(uint64(i), i == r.chunks-1)
	pt, err := r.aead.Open(b[:0], nonce[:], b, nil)
	if err != nil {
		return nil, errs.E(errs.Integrity, fmt.Sprintf("chunk %d failed authentication: the stored file was altered or belongs to another file", i))
	}
	return pt, nil
}

// ReadAt follows io.ReaderAt. It is safe for concurrent use.
func (r *chunkReader) ReadAt(p []byte, off int64) (int, error) {
	const op = errs.Op("crypt.ReadAt")
	if off < 0 {
		return 0, errs.E(op, errs.Invalid, fmt.Sprintf("negative offset %d", off))
	}
	if off >= r.size {
		return 0, io.EOF
	}
	bp := batchPool.Get().(*[]byte)
	defer batchPool.Put(bp)
	n := 0
	for len(p) > 0 && off < r.size {
		first := off / chunkSize
		last := min((off+int64(len(p))-1)/chunkSize, r.chunks-1, first+batchChunks-1)
		start := r.chunkOffset(first)
		end := min(r.chunkOffset(last+1), r.payloadSize)
		b := (*bp)[:end-start]
		if err := readFullAt(r.src, b, start); err != nil {
			return n, errs.E(op, err)
		}
		for i := first; i <= last && len(p) > 0; i++ {
			lo := (i - first) * encChunkSize
			pt, err := r.open(b[lo:min(lo+encChunkSize, int64(len(b)))], i)
			if err != nil {
				return n, errs.E(op, err)
			}
			m := copy(p, pt[off-i*chunkSize:])
			p, off, n = p[m:], off+int64(m), n+m
		}
	}
	if off >= r.size {
		return n, io.EOF
	}
	return n, nil
}

// chunkNonce is the nonce of chunk i: its 11-byte big-endian index, then the last-chunk
// flag byte.
func chunkNonce(i uint64, last bool) [12]byte {
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[3:11], i)
	if last {
		nonce[11] = 1
	}
	return nonce
}

// readFullAt reads exactly len(p) bytes at off; a short source is a truncated file
// (Integrity), any other error keeps its Kind (the blob store's).
func readFullAt(src io.ReaderAt, p []byte, off int64) error {
	n, err := src.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return errs.E(errs.Integrity, "the stored payload is shorter than recorded: it was truncated")
	}
	return &storageError{err}
}
