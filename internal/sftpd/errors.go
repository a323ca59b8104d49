package sftpd

import (
	"errors"

	"github.com/pkg/sftp"

	"github.com/coffer-mft/coffer/internal/errs"
)

// statusError is an SFTP status for the client: pkg/sftp sends the code it finds by
// unwrapping and Error() as the message, which clients such as WinSCP, lftp and pkg/sftp
// show to the user (OpenSSH's sftp shows the text of the code).
type statusError struct {
	code error // one of sftp.ErrSSHFx*
	msg  string
}

func (e *statusError) Error() string { return e.msg }
func (e *statusError) Unwrap() error { return e.code }

func status(code error, msg string) error { return &statusError{code: code, msg: msg} }

// toStatus maps an error of the files layer onto an SFTP status. Only errs.Detail reaches
// the client: internal causes stay in the log.
func toStatus(err error) error {
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
	case errs.NotFound:
		return status(sftp.ErrSSHFxNoSuchFile, msg)
	case errs.Permission, errs.Unauthenticated, errs.Locked:
		return status(sftp.ErrSSHFxPermissionDenied, msg)
	case errs.Exist:
		// SSH_FX_FILE_ALREADY_EXISTS is SFTP v5+; pkg/sftp speaks v3.
		return status(sftp.ErrSSHFxFailure, "already exists: "+msg)
	case errs.Canceled:
		return status(sftp.ErrSSHFxConnectionLost, msg)
	default:
		// Invalid, Quota, NoSpace, TooLarge, Conflict, IsDir, NotDir, Integrity,
		// Unavailable, Other: a failure with the message, which says what to do.
		return status(sftp.ErrSSHFxFailure, msg)
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
