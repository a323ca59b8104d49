package files

import (
	"strings"
	"unicode/utf8"

	"github.com/coffer-mft/coffer/internal/errs"
)

// Limits on virtual paths, the same for every protocol.
const (
	MaxNameBytes = 255
	MaxPathBytes = 4096
)

// ParsePath validates a virtual path and returns its components. It accepts "a/b",
// "/a/b" and one trailing slash; "/" and "" are the root (no components). It rejects,
// rather than cleans, anything that could mean something else on some system: "." and
// ".." components, empty components ("a//b"), backslashes, NUL and other control
// characters, invalid UTF-8, names over MaxNameBytes and paths over MaxPathBytes.
// Rejecting makes an attack visible (the error is audited) instead of silently
// turning it into a valid request.
func ParsePath(p string) ([]string, error) {
	const op = errs.Op("files.ParsePath")
	if len(p) > MaxPathBytes {
		return nil, errs.E(op, errs.Invalid, errs.Path(p[:64]+"..."), "path longer than 4096 bytes")
	}
	if !utf8.ValidString(p) {
		return nil, errs.E(op, errs.Invalid, "path is not valid UTF-8")
	}
	trimmed := strings.TrimPrefix(p, "/")
	trimmed = strings.TrimSuffix(trimmed, "/")
	if trimmed == "" {
		if p == "" || p == "/" {
			return nil, nil
		}
		return nil, errs.E(op, errs.Invalid, errs.Path(p), "empty path component")
	}
	comps := strings.Split(trimmed, "/")
	for _, c := range comps {
		if err := CheckName(c); err != nil {
			return nil, errs.E(op, errs.Path(p), err)
		}
	}
	return comps, nil
}

// CheckName validates one path component (a file or directory name).
func CheckName(name string) error {
	switch {
	case name == "":
		return errs.E(errs.Invalid, "empty path component (two slashes in a row?)")
	case name == "." || name == "..":
		return errs.E(errs.Invalid, "\".\" and \"..\" are not allowed in paths")
	case len(name) > MaxNameBytes:
		return errs.E(errs.Invalid, "a name is longer than 255 bytes")
	case !utf8.ValidString(name):
		return errs.E(errs.Invalid, "name is not valid UTF-8")
	}
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return errs.E(errs.Invalid, "control characters are not allowed in names")
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
			// Bidirectional embeddings, overrides and isolates make a name display other
			// than it is ("invoice\u202efdp.exe" shows as "invoiceexe.pdf"): a spoofing trick
			// against the people who receive files.
			return errs.E(errs.Invalid, "bidirectional control characters (U+202A-U+202E, U+2066-U+2069) are not allowed in names")
		case r == '\\':
			return errs.E(errs.Invalid, "backslashes are not allowed in names")
		case r == '/':
			return errs.E(errs.Invalid, "slashes are not allowed in names")
		}
	}
	return nil
}

// Join builds a virtual path from components: "/" + components joined by "/".
func Join(comps ...string) string { return "/" + strings.Join(comps, "/") }
