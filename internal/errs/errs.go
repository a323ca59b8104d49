// Package errs is Coffer's one error type. The core reports what went wrong as a Kind;
// each protocol front-end maps Kind to its own codes (HTTP status, SFTP status, exit
// code) at its edge, so the core knows nothing of protocols.
package errs

import (
	"errors"
	"strings"
)

// Kind classifies an error. The list is append-only: values are never renumbered.
type Kind uint8

const (
	Other               Kind = iota // unclassified; treated as an internal error
	Invalid                         // the request itself is malformed (bad path, bad JSON, bad value)
	NotFound                        // no such user, file, folder, token...
	Exist                           // the thing already exists
	Permission                      // authenticated, but not allowed to do this
	Unauthenticated                 // no, wrong or expired credentials
	Locked                          // account or source address locked out after failed logins
	Quota                           // the write would exceed a quota
	NoSpace                         // the storage itself is full
	Integrity                       // stored data is corrupt or was tampered with, or a digest did not match
	Conflict                        // the operation conflicts with the current state (not empty, not a dir...)
	TooLarge                        // the request is larger than allowed
	Unavailable                     // a backend (database, blob store) is unreachable
	Canceled                        // the caller went away or the server is shutting down
	IsDir                           // a file operation was asked of a directory
	NotDir                          // a directory operation was asked of a file
	RangeNotSatisfiable             // a byte range lies outside the file
	Gone                            // it existed but is no longer available: an expired, revoked or used-up link
)

var kindNames = [...]string{
	Other:               "internal error",
	Invalid:             "invalid request",
	NotFound:            "not found",
	Exist:               "already exists",
	Permission:          "permission denied",
	Unauthenticated:     "not authenticated",
	Locked:              "locked out",
	Quota:               "quota exceeded",
	NoSpace:             "storage full",
	Integrity:           "integrity check failed",
	Conflict:            "conflict",
	TooLarge:            "too large",
	Unavailable:         "service unavailable",
	Canceled:            "canceled",
	IsDir:               "is a directory",
	NotDir:              "not a directory",
	RangeNotSatisfiable: "range not satisfiable",
	Gone:                "no longer available",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown error kind"
}

// Op names the operation that failed, e.g. "files.Create".
type Op string

// Path is the user-visible (virtual) path an error concerns.
type Path string

// User is the name of the user an error concerns.
type User string

// Error is the error type of every Coffer package.
type Error struct {
	Op   Op
	Kind Kind
	Path Path
	User User
	Err  error // the underlying cause, possibly nil
}

// E builds an *Error from its arguments, each of which sets the field of its type:
// Op, Kind, Path, User, error (the cause) or string (a cause made with errors.New).
// When the cause is itself an *Error and no Kind was given, the cause's Kind is kept.
func E(args ...any) error {
	e := &Error{}
	for _, a := range args {
		switch a := a.(type) {
		case Op:
			e.Op = a
		case Kind:
			e.Kind = a
		case Path:
			e.Path = a
		case User:
			e.User = a
		case *Error:
			c := *a
			e.Err = &c
		case error:
			e.Err = a
		case string:
			e.Err = errors.New(a)
		default:
			panic("errs.E: bad argument type")
		}
	}
	if e.Kind == Other {
		e.Kind = KindOf(e.Err)
	}
	return e
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(string(e.Op))
		b.WriteString(": ")
	}
	if e.User != "" {
		b.WriteString("user ")
		b.WriteString(string(e.User))
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(string(e.Path))
		b.WriteString(": ")
	}
	inner, _ := e.Err.(*Error)
	if e.Kind != Other && (inner == nil || inner.Kind != e.Kind) {
		b.WriteString(e.Kind.String())
		if e.Err != nil {
			b.WriteString(": ")
		}
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return strings.TrimSuffix(b.String(), ": ")
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf reports the Kind of the outermost *Error in err's chain that has one,
// or Other when there is none.
func KindOf(err error) Kind {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return Other
		}
		if e.Kind != Other {
			return e.Kind
		}
		err = e.Err
	}
	return Other
}

// Is reports whether err's Kind is k.
func Is(k Kind, err error) bool { return KindOf(err) == k }

// Detail returns the innermost human message of err: the text that a client may be
// shown. It never includes internal causes of Kind Other.
func Detail(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	for {
		next, ok := e.Err.(*Error)
		if !ok {
			break
		}
		e = next
	}
	if e.Err == nil || e.Kind == Other {
		return e.Kind.String()
	}
	return e.Err.Error()
}

// Messages for a client in place of the detail of the server's own faults.
const (
	MsgInternal    = "the server could not complete the request; the administrator can find the cause in the server log"
	MsgUnavailable = "a storage backend is unavailable; try again later"
	MsgNoSpace     = "the server's storage is full; try again later or contact the administrator"
)

// PublicDetail is Detail for a client of any protocol. For the server's own faults
// (Other, Unavailable, NoSpace), whose details may name paths on disk, the database, a
// bucket or an endpoint, it is a fixed message that says what the client can do: their
// causes belong in the server log.
func PublicDetail(err error) string {
	switch KindOf(err) {
	case Other:
		return MsgInternal
	case Unavailable:
		return MsgUnavailable
	case NoSpace:
		return MsgNoSpace
	}
	return Detail(err)
}
