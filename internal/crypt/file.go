package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	"filippo.io/age"
	"github.com/coffer-mft/coffer/internal/errs"
)

const (
	chunkSize = 64 << 10 // plaintext bytes per STREAM chunk
	tagSize   = 16       // authentication tag per chunk (Poly1305 or GCM)
	nonceSize = 16       // payload nonce, the first bytes of the payload
)

// PayloadSize returns the payload size for a plaintext of n bytes (nonce + chunks + tags),
// or -1 if n is negative or the payload would not fit in an int64.
func PayloadSize(n int64) int64 {
	if n < 0 {
		return -1
	}
	chunks := max(1, n/chunkSize+min(1, n%chunkSize))
	if n > math.MaxInt64-nonceSize-chunks*tagSize {
		return -1
	}
	return nonceSize + n + chunks*tagSize
}

// NonceSize is the length of the payload nonce, the first bytes of every payload.
const NonceSize = nonceSize

// Open returns a random-access plaintext reader for a file given its header and payload
// (payloadSize bytes). It authenticates the header and the final chunk at once (so a
// truncated or wrong-key file fails here with errs.Integrity or, for an unknown key id,
// errs.NotFound naming the key id), and every chunk it reads.
//
// The reader's ReadAt may be called concurrently. It decrypts whole 64 KiB chunks: reads
// of at least 64 KiB, aligned to 64 KiB, are the fastest. A read that fails
// authentication returns errs.Integrity and no byte of the bad chunk; a read error from
// payload is returned with its Kind.
func (k *Keyring) Open(header []byte, payload io.ReaderAt, payloadSize int64) (r io.ReaderAt, plaintextSize int64, err error) {
	const op = errs.Op("crypt.Open")
	if payloadSize < 0 || payloadSize > math.MaxInt64-int64(len(header)) {
		return nil, 0, errs.E(op, errs.Invalid, fmt.Sprintf("payload size %d is out of range", payloadSize))
	}
	// Only a header exactly as age writes it: then the payload starts where it ends.
	canonical, err := age.ExtractHeader(bytes.NewReader(header))
	if err != nil {
		return nil, 0, errs.E(op, errs.Integrity, fmt.Errorf("the stored header is not an age header: %w", err))
	}
	if !bytes.Equal(canonical, header) {
		return nil, 0, errs.E(op, errs.Integrity, "the stored header has been altered (it is not in age's canonical form)")
	}
	fileKey, s, err := k.unwrap(header)
	if err != nil {
		return nil, 0, openError(op, err)
	}
	cr, err := newChunkReader(fileKey, s, payload, payloadSize)
	if err != nil {
		return nil, 0, openError(op, err)
	}
	return cr, cr.size, nil
}

// openError turns an error from age into ours: a storage error keeps its Kind, a key the
// keyring lacks is NotFound, and everything else is an Integrity failure.
func openError(op errs.Op, err error) error {
	var se *storageError
	if errors.As(err, &se) {
		return errs.E(op, se)
	}
	var noMatch *age.NoIdentityMatchError
	if errors.As(err, &noMatch) {
		var missing *missingKeyError
		if errors.As(err, &missing) {
			return errs.E(op, errs.NotFound, fmt.Errorf("%w (restore the key file that holds it)", missing))
		}
		return errs.E(op, errs.Integrity, "the header holds no coffer-kek stanza")
	}
	var unwrap *unwrapError
	if errors.As(err, &unwrap) {
		return errs.E(op, errs.Integrity, err)
	}
	return errs.E(op, errs.Integrity, fmt.Errorf("the file does not decrypt: %w (it was truncated or altered, or its header and payload are not of the same file)", err))
}

// storageError marks a failure to read the payload, as opposed to a failure to decrypt it.
type storageError struct{ err error }

func (e *storageError) Error() string { return "reading the payload: " + e.err.Error() }
func (e *storageError) Unwrap() error { return e.err }
