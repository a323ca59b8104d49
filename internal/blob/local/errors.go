package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
)

// fail turns err from the file system into an *errs.Error for op that tells an
// operator what is wrong with the store and what to do about it.
func (s *Store) fail(op errs.Op, err error) error {
	var errno syscall.Errno
	errors.As(err, &errno)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return errs.E(op, errs.Canceled, err)
	case errno == syscall.ENOSPC, errno == syscall.EDQUOT:
		return errs.E(op, errs.NoSpace, fmt.Errorf("blob store %s is full (%w): free disk space or raise the quota", s.dir, errno))
	case errors.Is(err, fs.ErrPermission):
		return errs.E(op, fmt.Errorf("blob store %s: %w (make the directory and everything in it readable and writable by the user running coffer, or choose another directory)", s.dir, err))
	case errno == syscall.EROFS:
		return errs.E(op, fmt.Errorf("blob store %s: %w (remount the file system read-write or choose another directory)", s.dir, err))
	}
	return errs.E(op, fmt.Errorf("blob store %s: %w", s.dir, err))
}

// failBlob is fail for an operation on the committed blob id, whose absence is
// errs.NotFound.
func (s *Store) failBlob(op errs.Op, id blob.ID, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return errs.E(op, errs.NotFound, "blob "+string(id))
	}
	return s.fail(op, err)
}
