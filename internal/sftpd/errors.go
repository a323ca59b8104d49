package sftpd

import (
	"errors"

	"github.com/coffer-mft/coffer/internal/errs"
)

// statusError is an SFTP status for the client: the code, and the message that clients
// such as WinSCP, lftp and pkg/sftp show to the user (OpenSSH's sftp shows the text of
// the code).
type statusError struct {
	code uint32 // fx*
	msg  string
}

func (e *statusError) Error() string { return e.msg }

func status(code uint32, msg string) error { return &statusError{code: code, msg: msg} }

// toStatus maps an error onto an SFTP status. Only errs.PublicDetail of an error of the
// files layer reaches the client: internal causes stay in the log (report logs them).
func toStatus(err error) *statusError {
	if err == nil {
		return nil
	}
	var se *statusError
	if errors.As(err, &se) {
		return se
	}
	msg := errs.PublicDetail(err)
	if msg == "" {
		msg = errs.KindOf(err).String()
	}
	switch errs.KindOf(err) {
	case errs.NotFound:
		return &statusError{fxNoSuchFile, msg}
	case errs.Permission, errs.Unauthenticated, errs.Locked:
		return &statusError{fxPermissionDenied, msg}
	case errs.Exist:
		// SSH_FX_FILE_ALREADY_EXISTS is SFTP v5+; this server speaks v3.
		return &statusError{fxFailure, "already exists: " + msg}
	case errs.Canceled:
		return &statusError{fxConnectionLost, msg}
	default:
		// Invalid, Quota, NoSpace, TooLarge, Conflict, IsDir, NotDir, Integrity,
		// Unavailable, Other: a failure with the message, which says what to do.
		return &statusError{fxFailure, msg}
	}
}

// internal reports whether err is the server's fault, worth an administrator's attention.
func internal(err error) bool {
	switch errs.KindOf(err) {
	case errs.Other, errs.Unavailable, errs.Integrity, errs.NoSpace:
		return true
	}
	return false
}
