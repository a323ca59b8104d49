package crypt

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"filippo.io/age"
	"github.com/coffer-mft/coffer/internal/errs"
	"golang.org/x/crypto/chacha20poly1305"
)

// This file writes the payload (STREAM, as stream.go reads it) itself instead of through
// age's writer, for three reasons. New files use the AES-256-GCM suite, which age has
// not. A payload can be continued: an interrupted upload keeps the chunks it sealed, and
// a later writer appends to them (docs/format.md, "Partial uploads"); age's writer can
// only start from a fresh file key. And it seals chunks in place or straight from the
// caller's buffer, without age's extra copy. The tests check its version 1 output with
// age's own reader.

// Writer encrypts a payload's plaintext into its chunks. A full chunk is sealed only when
// more data follows it, because the last chunk is sealed differently; so after any Write,
// Sealed bytes (a multiple of 64 KiB) are final in dst and the rest waits for more data or
// Close.
type Writer struct {
	aead   cipher.AEAD
	tail   cipher.AEAD // seals the pending bytes of a partial upload (SealTail)
	dst    io.Writer
	seen   io.Writer // receives the plaintext of each chunk as it is sealed; may be nil
	chunk  uint64    // index of the next chunk to seal
	buf    []byte    // chunkSize+tagSize: pending plaintext, then its ciphertext
	n      int       // plaintext bytes pending in buf
	err    error     // sticky
	closed bool
}

// Encrypt starts a new file encrypted to the primary KEK. The header (the age header with
// the wrapped file key, a few hundred bytes) is returned at once, for the caller to store
// in metadata; the payload is written to dst as it is produced, starting with its 16-byte
// nonce before Encrypt returns. seen, if not nil, receives the plaintext of every chunk
// as it is sealed, so that a digest of it matches Sealed exactly. Close seals the last
// chunk and does not close dst; without Close the payload does not decrypt, but Sealed
// bytes of it can be continued with Continue. Errors from dst keep their Kind.
func (k *Keyring) Encrypt(dst io.Writer, seen io.Writer) (header []byte, w *Writer, err error) {
	return k.encrypt(dst, seen, writeSuite)
}

// encrypt is Encrypt with the payload cipher s (tests write version 1 files with it).
func (k *Keyring) encrypt(dst io.Writer, seen io.Writer, s suite) (header []byte, w *Writer, err error) {
	const op = errs.Op("crypt.Encrypt")
	if len(k.keys) == 0 {
		return nil, nil, errs.E(op, errs.Invalid, "the keyring holds no keys")
	}
	// age makes the header (a fresh random file key wrapped to our recipient); the
	// payload nonce it writes after it is discarded with its writer, and we draw our own.
	var head bytes.Buffer
	if _, err := age.Encrypt(&head, recipient{k: k.keys[0], suite: s}); err != nil {
		return nil, nil, errs.E(op, err)
	}
	header, err = age.ExtractHeader(&head)
	if err != nil {
		return nil, nil, errs.E(op, err)
	}
	fileKey, s, err := k.unwrap(header)
	if err != nil {
		return nil, nil, errs.E(op, err)
	}
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	if _, err := dst.Write(nonce); err != nil {
		return nil, nil, errs.E(op, err)
	}
	w, err = newWriter(fileKey, s, nonce, 0, dst, seen)
	if err != nil {
		return nil, nil, errs.E(op, err)
	}
	return header, w, nil
}

// Continue returns a Writer that appends to the payload of the file with this header,
// whose first plainSize bytes (a multiple of 64 KiB, as Sealed reported) are already in
// dst, together with the payload's 16-byte nonce before them; tail, if not empty, is what
// SealTail returned then, and its bytes are pending in the new Writer as they were in the
// old. Errors: Invalid for a plainSize that is not a chunk boundary or a nonce of the
// wrong size; Integrity for a tail that does not open; Integrity or NotFound as for Open
// when the header does not unwrap.
func (k *Keyring) Continue(header, nonce []byte, plainSize int64, tail []byte, dst io.Writer, seen io.Writer) (*Writer, error) {
	const op = errs.Op("crypt.Continue")
	if plainSize < 0 || plainSize%chunkSize != 0 {
		return nil, errs.E(op, errs.Invalid, fmt.Sprintf("cannot continue a payload after %d bytes: not a chunk boundary", plainSize))
	}
	if len(nonce) != nonceSize {
		return nil, errs.E(op, errs.Invalid, fmt.Sprintf("the payload nonce is %d bytes, want %d", len(nonce), nonceSize))
	}
	fileKey, s, err := k.unwrap(header)
	if err != nil {
		return nil, openError(op, err)
	}
	w, err := newWriter(fileKey, s, nonce, uint64(plainSize/chunkSize), dst, seen)
	if err != nil {
		return nil, errs.E(op, err)
	}
	if len(tail) > 0 {
		if len(tail) < chacha20poly1305.NonceSizeX+tagSize || len(tail) > chacha20poly1305.NonceSizeX+chunkSize+tagSize {
			return nil, errs.E(op, errs.Integrity, fmt.Sprintf("the partial upload's pending bytes are %d bytes sealed, which no tail is", len(tail)))
		}
		n := tail[:chacha20poly1305.NonceSizeX]
		pt, err := w.tail.Open(w.buf[:0], n, tail[len(n):], tailAD(w.chunk))
		if err != nil {
			return nil, errs.E(op, errs.Integrity, "the partial upload's pending bytes fail authentication: they were altered or belong to another upload")
		}
		w.n = len(pt)
	}
	return w, nil
}

// tailAD binds a sealed tail to the chunk it would start.
func tailAD(chunk uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("coffer partial tail v1 "), chunk)
}

// SealTail returns the bytes written but not yet sealed in a chunk (less than 64 KiB, or
// one full chunk that waits for more data), encrypted for Continue, or nil when there are
// none. It is what an interrupted upload keeps besides the Sealed chunks, so that nothing
// it received is lost. The Writer is unchanged.
func (w *Writer) SealTail() []byte {
	if w.n == 0 {
		return nil
	}
	out := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+w.n+tagSize)
	rand.Read(out)
	return w.tail.Seal(out, out, w.buf[:w.n], tailAD(w.chunk))
}

// Pending is the number of bytes written but not yet sealed.
func (w *Writer) Pending() int { return w.n }

func newWriter(fileKey []byte, s suite, nonce []byte, chunk uint64, dst, seen io.Writer) (*Writer, error) {
	aead, err := s.payloadAEAD(fileKey, nonce)
	if err != nil {
		return nil, err
	}
	tk, err := hkdf.Key(sha256.New, fileKey, nonce, "coffer partial tail v1", chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	tail, err := chacha20poly1305.NewX(tk)
	if err != nil {
		return nil, err
	}
	return &Writer{aead: aead, tail: tail, dst: dst, seen: seen, chunk: chunk, buf: make([]byte, encChunkSize)}, nil
}

// Sealed is the number of plaintext bytes (since the payload's start, including any that
// Continue began after) whose chunks are sealed and written to dst.
func (w *Writer) Sealed() int64 { return int64(w.chunk) * chunkSize }

// Write encrypts p. It returns an error from dst with its Kind; after an error every
// call fails.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, errs.E(errs.Op("crypt.Write"), "write after Close")
	}
	total := len(p)
	for len(p) > 0 {
		if w.n == chunkSize {
			if err := w.seal(w.buf[:chunkSize], false); err != nil {
				return total - len(p), err
			}
			w.n = 0
		}
		if w.n == 0 && len(p) > chunkSize {
			// A whole chunk with more after it: seal it straight from p.
			if err := w.seal(p[:chunkSize], false); err != nil {
				return total - len(p), err
			}
			p = p[chunkSize:]
			continue
		}
		m := copy(w.buf[w.n:chunkSize], p)
		w.n += m
		p = p[m:]
	}
	return total, nil
}

// Close seals the last chunk. A Writer from Continue that was given no byte has no last
// chunk to seal (the bytes before it were sealed as not last): Close fails with Integrity.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	if w.n == 0 && w.chunk > 0 {
		w.err = errs.E(errs.Op("crypt.Close"), errs.Integrity, "the payload ends on a chunk sealed as not the last: more data was expected")
		return w.err
	}
	return w.seal(w.buf[:w.n], true)
}

// seal encrypts one chunk of plaintext p (which may alias w.buf) and writes it to dst.
func (w *Writer) seal(p []byte, last bool) error {
	if w.seen != nil {
		w.seen.Write(p)
	}
	nonce := chunkNonce(w.chunk, last)
	ct := w.aead.Seal(w.buf[:0], nonce[:], p, nil)
	if _, err := w.dst.Write(ct); err != nil {
		w.err = errs.E(errs.Op("crypt.Write"), err)
		return w.err
	}
	w.chunk++
	return nil
}

// SealedPayloadSize is the size of the start of a payload that holds its nonce and the
// chunks of its first plainSize bytes (a multiple of 64 KiB, as Writer.Sealed reports).
func SealedPayloadSize(plainSize int64) int64 {
	return nonceSize + plainSize/chunkSize*encChunkSize
}

// TailSize is the number of plaintext bytes in a tail from SealTail (0 for none).
func TailSize(tail []byte) int64 {
	if len(tail) == 0 {
		return 0
	}
	return max(0, int64(len(tail))-chacha20poly1305.NonceSizeX-tagSize)
}
