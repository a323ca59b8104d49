package sftpd

import (
	"encoding/binary"
	"errors"
	"math"
)

// The SFTP protocol, version 3, as OpenSSH speaks it (draft-ietf-secsh-filexfer-02 and
// OpenSSH's PROTOCOL file for the @openssh.com extensions). This file decodes requests
// and encodes responses; it knows nothing of files or sessions. Every length in a
// request is checked against the packet and against the limits below before anything is
// read or allocated: a malformed packet is an error value, never a panic (FuzzRequest).

// Packet types.
const (
	fxpInit          = 1
	fxpVersion       = 2
	fxpOpen          = 3
	fxpClose         = 4
	fxpRead          = 5
	fxpWrite         = 6
	fxpLstat         = 7
	fxpFstat         = 8
	fxpSetstat       = 9
	fxpFsetstat      = 10
	fxpOpendir       = 11
	fxpReaddir       = 12
	fxpRemove        = 13
	fxpMkdir         = 14
	fxpRmdir         = 15
	fxpRealpath      = 16
	fxpStat          = 17
	fxpRename        = 18
	fxpReadlink      = 19
	fxpSymlink       = 20
	fxpStatus        = 101
	fxpHandle        = 102
	fxpData          = 103
	fxpName          = 104
	fxpAttrs         = 105
	fxpExtended      = 200
	fxpExtendedReply = 201
)

// Status codes (SSH_FX_*).
const (
	fxOK               = 0
	fxEOF              = 1
	fxNoSuchFile       = 2
	fxPermissionDenied = 3
	fxFailure          = 4
	fxBadMessage       = 5
	fxConnectionLost   = 7
	fxOpUnsupported    = 8
)

// Open flags (SSH_FXF_*).
const (
	fxfRead   = 0x01
	fxfWrite  = 0x02
	fxfAppend = 0x04
	fxfCreat  = 0x08
	fxfTrunc  = 0x10
	fxfExcl   = 0x20
)

// Attribute flags (SSH_FILEXFER_ATTR_*).
const (
	attrSize        = 0x00000001
	attrUIDGID      = 0x00000002
	attrPermissions = 0x00000004
	attrACModTime   = 0x00000008
	attrExtended    = 0x80000000
)

// Extended requests served, and announced in VERSION with these versions.
const (
	extPosixRename = "posix-rename@openssh.com"
	extStatVFS     = "statvfs@openssh.com"
	extHardlink    = "hardlink@openssh.com"
	extLimits      = "limits@openssh.com"
)

var versionExtensions = [][2]string{
	{extHardlink, "1"}, {extPosixRename, "1"}, {extStatVFS, "2"}, {extLimits, "1"},
}

// Bounds on the fields of a request, beyond the packet length itself.
const (
	maxPathLength   = 4096 // bytes of a path (Linux's PATH_MAX)
	maxHandleLength = 256  // the protocol's own limit
	maxExtNameLen   = 256  // an extended request's name
)

// request is one decoded client packet. Byte fields alias the packet's buffer: they are
// valid until the packet is released.
type request struct {
	typ    byte
	id     uint32
	path   []byte // the path (OPEN, STAT, ...), or the first path of two
	path2  []byte // RENAME, SYMLINK, posix-rename, hardlink: the second
	handle []byte
	offset int64
	length uint32 // READ
	data   []byte // WRITE
	pflags uint32 // OPEN
	attrs  attrs  // OPEN, MKDIR, SETSTAT, FSETSTAT
	ext    string // EXTENDED: the request's name (only names this server knows; else "?")
}

// attrs are the attributes a client sends. Unknown extended attributes are skipped.
type attrs struct {
	flags uint32
	size  uint64
	perm  uint32
	atime uint32
	mtime uint32
}

var (
	errShort    = errors.New("the packet ends inside a field")
	errTooLong  = errors.New("a field is longer than this server allows")
	errBadField = errors.New("a field has an impossible value")
)

// decoder reads the fields of a packet; the first error sticks and later reads return
// zero values, so a handler checks err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) u32() uint32 {
	if len(d.b) < 4 {
		d.fail(errShort)
		return 0
	}
	v := binary.BigEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) u64() uint64 {
	if len(d.b) < 8 {
		d.fail(errShort)
		return 0
	}
	v := binary.BigEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// bytes reads a string of at most limit bytes.
func (d *decoder) bytes(limit int) []byte {
	n := d.u32()
	switch {
	case d.err != nil:
		return nil
	case uint64(n) > uint64(len(d.b)):
		d.fail(errShort)
		return nil
	case uint64(n) > uint64(limit):
		d.fail(errTooLong)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) offset() int64 {
	v := d.u64()
	if v > math.MaxInt64 {
		d.fail(errBadField)
		return 0
	}
	return int64(v)
}

func (d *decoder) attrs() attrs {
	a := attrs{flags: d.u32()}
	if a.flags&attrSize != 0 {
		a.size = d.u64()
	}
	if a.flags&attrUIDGID != 0 {
		d.u32()
		d.u32()
	}
	if a.flags&attrPermissions != 0 {
		a.perm = d.u32()
	}
	if a.flags&attrACModTime != 0 {
		a.atime = d.u32()
		a.mtime = d.u32()
	}
	if a.flags&attrExtended != 0 {
		// Each pair takes at least 8 bytes, so the count cannot make this loop longer
		// than the packet.
		for n := d.u32(); n > 0 && d.err == nil; n-- {
			d.bytes(len(d.b))
			d.bytes(len(d.b))
		}
	}
	return a
}

// parseRequest decodes a packet (without its length field). The error is for a packet
// whose type and id could be read but whose fields could not (BAD_MESSAGE to that id);
// ok is false when not even the type and id could.
func parseRequest(b []byte) (r request, ok bool, err error) {
	d := decoder{b: b}
	if len(b) < 1 {
		return r, false, errShort
	}
	r.typ = b[0]
	d.b = b[1:]
	if r.typ == fxpInit {
		r.id = d.u32() // the version
		return r, d.err == nil, d.err
	}
	r.id = d.u32()
	if d.err != nil {
		return r, false, d.err
	}
	switch r.typ {
	case fxpOpen:
		r.path = d.bytes(maxPathLength)
		r.pflags = d.u32()
		r.attrs = d.attrs()
	case fxpClose, fxpFstat, fxpReaddir:
		r.handle = d.bytes(maxHandleLength)
	case fxpRead:
		r.handle = d.bytes(maxHandleLength)
		r.offset = d.offset()
		r.length = d.u32()
	case fxpWrite:
		r.handle = d.bytes(maxHandleLength)
		r.offset = d.offset()
		r.data = d.bytes(len(d.b))
	case fxpLstat, fxpStat, fxpOpendir, fxpRemove, fxpRmdir, fxpRealpath, fxpReadlink:
		r.path = d.bytes(maxPathLength)
	case fxpSetstat, fxpMkdir:
		r.path = d.bytes(maxPathLength)
		r.attrs = d.attrs()
	case fxpFsetstat:
		r.handle = d.bytes(maxHandleLength)
		r.attrs = d.attrs()
	case fxpRename, fxpSymlink:
		r.path = d.bytes(maxPathLength)
		r.path2 = d.bytes(maxPathLength)
	case fxpExtended:
		name := d.bytes(maxExtNameLen)
		switch string(name) {
		case extPosixRename, extHardlink:
			r.ext = string(name)
			r.path = d.bytes(maxPathLength)
			r.path2 = d.bytes(maxPathLength)
		case extStatVFS:
			r.ext = extStatVFS
			r.path = d.bytes(maxPathLength)
		case extLimits:
			r.ext = extLimits // anything after the name is ignored, as by OpenSSH
		default:
			r.ext = "?"
		}
	}
	return r, true, d.err
}

// Encoding. Responses are appended to a buffer; a packet starts with a placeholder
// length that endPacket fills in.

func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendString[T string | []byte](b []byte, s T) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

// beginPacket appends the length placeholder, type and id; it returns where the packet
// starts, for endPacket.
func beginPacket(b []byte, typ byte, id uint32) ([]byte, int) {
	start := len(b)
	b = append(b, 0, 0, 0, 0, typ)
	return appendU32(b, id), start
}

func endPacket(b []byte, start int) []byte {
	putU32(b[start:], uint32(len(b)-start-4))
	return b
}

func putU32(b []byte, v uint32) { binary.BigEndian.PutUint32(b, v) }

func appendStatus(b []byte, id, code uint32, msg string) []byte {
	b, start := beginPacket(b, fxpStatus, id)
	b = appendU32(b, code)
	b = appendString(b, msg)
	b = appendString(b, "en")
	return endPacket(b, start)
}

// fileAttrs are the attributes the server reports: size, POSIX mode with the type bits,
// and times (seconds, as SFTP v3 has them).
type fileAttrs struct {
	size  int64
	mode  uint32 // with the S_IFDIR / S_IFREG bits
	mtime int64
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
)

func appendAttrs(b []byte, a fileAttrs) []byte {
	b = appendU32(b, attrSize|attrPermissions|attrACModTime)
	b = appendU64(b, uint64(a.size))
	b = appendU32(b, a.mode)
	t := uint32(a.mtime)
	b = appendU32(b, t)
	return appendU32(b, t)
}

func appendVersion(b []byte) []byte {
	b, start := beginPacket(b, fxpVersion, 3)
	for _, e := range versionExtensions {
		b = appendString(b, e[0])
		b = appendString(b, e[1])
	}
	return endPacket(b, start)
}
