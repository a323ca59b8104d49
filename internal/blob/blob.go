// Package blob stores opaque byte sequences (already encrypted by the caller) under
// random ids. It knows nothing of users, paths or plaintext. Implementations: local
// (a directory), s3 (a bucket of S3 or a compatible server), and mem (in-process, for
// tests and fault injection).
// Every implementation passes the conformance suite in package blobtest.
package blob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"sync/atomic"

	"github.com/coffer-mft/coffer/internal/errs"
)

// ID names a blob: 32 lower-case hex digits, random, never derived from user input.
type ID string

// NewID returns a fresh random ID.
func NewID() ID {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return ID(hex.EncodeToString(b[:]))
}

// Valid reports whether id has the form NewID produces. Stores refuse any other id,
// so no id can name a path outside the store.
func (id ID) Valid() bool {
	if len(id) != 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Store is byte storage behind a narrow streaming interface.
//
// Errors are *errs.Error with Kind NotFound (no such blob), Exist (Create of an id
// that is already committed), Invalid (malformed id), NoSpace (storage full),
// Unavailable (backend unreachable) or Canceled (ctx done).
type Store interface {
	// Create starts writing a new blob named id. Nothing is visible under id, to Open
	// or Stat, until Writer.Commit returns nil; after Commit returns, the blob is
	// durable (it survives a crash or power loss).
	Create(ctx context.Context, id ID) (Writer, error)

	// Open returns the committed blob id for random-access reading.
	Open(ctx context.Context, id ID) (Object, error)

	// Stat returns the size of the committed blob id.
	Stat(ctx context.Context, id ID) (int64, error)

	// Delete removes the committed blob id. Deleting a blob that does not exist is
	// not an error, so that deletion can be retried safely.
	Delete(ctx context.Context, id ID) error
}

// Writer receives a blob's bytes. Exactly one of Commit or Abort must be called;
// calling Abort after Commit, or either twice, is harmless.
type Writer interface {
	io.Writer
	// Commit makes the blob durable and visible.
	Commit() error
	// Abort discards everything written; nothing becomes visible.
	Abort() error
}

// Object is a committed blob opened for reading. ReadAt follows io.ReaderAt.
// Reading through an Object after Close returns an error.
type Object interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// Lister is implemented by stores that can enumerate their blobs, used by the
// consistency checker and garbage collector. fn is called once per committed blob,
// in no particular order; an error from fn stops the listing and is returned.
type Lister interface {
	List(ctx context.Context, fn func(ID) error) error
}

// InvalidID is the error for an id that is not Valid; implementations use it so that all
// say the same.
func InvalidID(op errs.Op, id ID) error {
	return errs.E(op, errs.Invalid, "malformed blob id "+quoteID(id))
}

func quoteID(id ID) string {
	if len(id) > 40 {
		id = id[:40] + "..."
	}
	return "\"" + string(id) + "\""
}

// CopyBufferSize is the buffer size callers should use to move bytes into or out of a store.
const CopyBufferSize = 256 << 10

// Bytes returns data as an Object. data must not change while the Object is in use: it
// is read in place, without a lock.
func Bytes(data []byte) Object { return &bytesObject{data: data} }

type bytesObject struct {
	data   []byte
	closed atomic.Bool
}

func (o *bytesObject) ReadAt(p []byte, off int64) (int, error) {
	if o.closed.Load() {
		return 0, errs.E(errs.Op("blob.ReadAt"), "blob is closed")
	}
	if off < 0 {
		return 0, errs.E(errs.Op("blob.ReadAt"), errs.Invalid, "negative offset")
	}
	if off >= int64(len(o.data)) {
		return 0, io.EOF
	}
	n := copy(p, o.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (o *bytesObject) Size() int64 { return int64(len(o.data)) }

func (o *bytesObject) Close() error {
	o.closed.Store(true)
	return nil
}
