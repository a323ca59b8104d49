package local

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/coffer-mft/coffer/internal/errs"
)

// Tests run as root on a roomy disk, so the errors an operator must act on are
// produced here by hand.
func TestFail(t *testing.T) {
	s := &Store{dir: "/srv/coffer/blobs"}
	pathErr := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "write", Path: "tmp/XYZ", Err: errno}
	}
	for _, tt := range []struct {
		err      error
		kind     errs.Kind
		contains []string
	}{
		{pathErr(syscall.ENOSPC), errs.NoSpace, []string{s.dir, "is full", "free disk space or raise the quota"}},
		{pathErr(syscall.EDQUOT), errs.NoSpace, []string{s.dir, "is full", "quota"}},
		{fmt.Errorf("sync: %w", pathErr(syscall.ENOSPC)), errs.NoSpace, []string{s.dir}},
		{pathErr(syscall.EACCES), errs.Other, []string{s.dir, "permission denied", "writable by the user running coffer"}},
		{pathErr(syscall.EPERM), errs.Other, []string{s.dir, "writable by the user running coffer"}},
		{pathErr(syscall.EROFS), errs.Other, []string{s.dir, "read-only file system", "remount"}},
		{pathErr(syscall.EIO), errs.Other, []string{s.dir, "input/output error"}},
		{context.Canceled, errs.Canceled, nil},
		{context.DeadlineExceeded, errs.Canceled, nil},
	} {
		err := s.fail("local.Test", tt.err)
		if got := errs.KindOf(err); got != tt.kind {
			t.Errorf("fail(%v) has kind %q, want %q", tt.err, got, tt.kind)
		}
		for _, c := range tt.contains {
			if !strings.Contains(err.Error(), c) {
				t.Errorf("fail(%v) = %q, which does not contain %q", tt.err, err, c)
			}
		}
	}
}
