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

// Messages in place of the detail of the server's own faults, which may name paths on
// disk, the database, a bucket or an endpoint (as the HTTPS API answers them).
const (
	msgInternal    = "the server could not complete the request; the administrator can find the cause in the server log"
	msgUnavailable = "a storage backend is unavailable; try again later"
	msgNoSpace     = "the server's storage is full; try again later or contact the administrator"
)

// toStatus maps an error onto an SFTP status. Only errs.Detail of an error of the files
// layer reaches the client, and of the server's own faults (Other, Unavailable, NoSpace)
// not even that: their causes stay in the log (report logs them).
func toStatus(err error) *statusError {
	if err == nil {
		return nil
	}
	var se *statusError
	if errors.As(err, &se) {
		return se
	}
	msg := errs.Detail(err)
	if msg == "" {
		msg = errs.KindOf(err).String()
	}
	switch errs.KindOf(err) {
	case errs.Other:
		msg = msgInternal
	case errs.Unavailable:
		msg = msgUnavailable
	case errs.NoSpace:
		msg = msgNoSpace
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
		// Invalid, Quota, TooLarge, Conflict, IsDir, NotDir, Integrity: a failure with
		// the message, which says what to do; NoSpace, Unavailable, Other: with the
		// generic one.
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
