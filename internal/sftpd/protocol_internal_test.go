package sftpd

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// Packet is packet, for the tests of package sftpd_test.
var Packet = packet

// packet frames a packet of type typ whose body is the fields (uint32, uint64, string,
// or []byte as is).
func packet(typ byte, fields ...any) []byte {
	b := []byte{0, 0, 0, 0, typ}
	for _, f := range fields {
		switch v := f.(type) {
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case uint64:
			b = binary.BigEndian.AppendUint64(b, v)
		case string:
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		default:
			panic(fmt.Sprintf("packet: field of type %T", f))
		}
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// body is a packet without its length field, as parseRequest takes it.
func body(typ byte, fields ...any) []byte { return packet(typ, fields...)[4:] }

func TestParseRequest(t *testing.T) {
	t.Parallel()
	long := string(bytes.Repeat([]byte("a"), maxPathLength+1))
	attrsAll := []any{uint32(attrSize | attrUIDGID | attrPermissions | attrACModTime | attrExtended),
		uint64(77), uint32(1), uint32(2), uint32(0o644), uint32(10), uint32(20), uint32(1), "k", "v"}
	for _, tc := range []struct {
		name string
		in   []byte
		want request
		ok   bool  // type and id readable
		err  error // fields
	}{
		{"init", body(fxpInit, uint32(3)), request{typ: fxpInit, id: 3}, true, nil},
		{"empty", nil, request{}, false, errShort},
		{"no id", []byte{fxpOpen, 0, 0}, request{typ: fxpOpen}, false, errShort},
		{"open", body(fxpOpen, uint32(7), "/a", uint32(fxfWrite|fxfCreat), uint32(0)),
			request{typ: fxpOpen, id: 7, path: []byte("/a"), pflags: fxfWrite | fxfCreat}, true, nil},
		{"open with attrs", body(fxpOpen, append([]any{uint32(7), "/a", uint32(fxfWrite)}, attrsAll...)...),
			request{typ: fxpOpen, id: 7, path: []byte("/a"), pflags: fxfWrite,
				attrs: attrs{flags: attrSize | attrUIDGID | attrPermissions | attrACModTime | attrExtended, size: 77, perm: 0o644, atime: 10, mtime: 20}}, true, nil},
		{"read", body(fxpRead, uint32(1), "h", uint64(5), uint32(100)),
			request{typ: fxpRead, id: 1, handle: []byte("h"), offset: 5, length: 100}, true, nil},
		{"read offset too large", body(fxpRead, uint32(1), "h", uint64(1<<63), uint32(100)),
			request{typ: fxpRead, id: 1, handle: []byte("h")}, true, errBadField},
		{"write", body(fxpWrite, uint32(2), "h", uint64(9), "data"),
			request{typ: fxpWrite, id: 2, handle: []byte("h"), offset: 9, data: []byte("data")}, true, nil},
		{"write short", body(fxpWrite, uint32(2), "h", uint64(9), uint32(5), []byte("data")),
			request{typ: fxpWrite, id: 2, handle: []byte("h"), offset: 9}, true, errShort},
		{"string past the end", body(fxpStat, uint32(3), uint32(1<<31)),
			request{typ: fxpStat, id: 3}, true, errShort},
		{"path too long", body(fxpStat, uint32(3), long), request{typ: fxpStat, id: 3}, true, errTooLong},
		{"handle too long", body(fxpClose, uint32(3), string(make([]byte, maxHandleLength+1))),
			request{typ: fxpClose, id: 3}, true, errTooLong},
		{"rename", body(fxpRename, uint32(4), "/a", "/b"),
			request{typ: fxpRename, id: 4, path: []byte("/a"), path2: []byte("/b")}, true, nil},
		{"attrs cut", body(fxpSetstat, uint32(5), "/a", uint32(attrSize), uint32(1)),
			request{typ: fxpSetstat, id: 5, path: []byte("/a"), attrs: attrs{flags: attrSize}}, true, errShort},
		{"extended count beyond the packet", body(fxpSetstat, uint32(5), "/a", uint32(attrExtended), uint32(1<<30)),
			request{typ: fxpSetstat, id: 5, path: []byte("/a"), attrs: attrs{flags: attrExtended}}, true, errShort},
		{"limits", body(fxpExtended, uint32(6), extLimits, "ignored"),
			request{typ: fxpExtended, id: 6, ext: extLimits}, true, nil},
		{"posix-rename", body(fxpExtended, uint32(6), extPosixRename, "/a", "/b"),
			request{typ: fxpExtended, id: 6, ext: extPosixRename, path: []byte("/a"), path2: []byte("/b")}, true, nil},
		{"unknown extension", body(fxpExtended, uint32(6), "x@example.com", "arg"),
			request{typ: fxpExtended, id: 6, ext: "?"}, true, nil},
		{"unknown type", body(99, uint32(8), "x"), request{typ: 99, id: 8}, true, nil},
	} {
		got, ok, err := parseRequest(tc.in)
		if ok != tc.ok || err != tc.err {
			t.Errorf("%s: ok %v, err %v; want %v, %v", tc.name, ok, err, tc.ok, tc.err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestCleanPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"": "/", ".": "/", "/": "/", "x/../y": "/y", "../../etc/passwd": "/etc/passwd",
		"/a//b/./c/": "/a/b/c", `a\b`: `/a\b`, "//..//..": "/",
	} {
		if got := cleanPath([]byte(in)); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// Encoded responses decode as OpenSSH reads them.
func TestEncodeResponses(t *testing.T) {
	t.Parallel()
	b := appendStatus(nil, 9, fxNoSuchFile, "gone")
	if want := packet(fxpStatus, uint32(9), uint32(fxNoSuchFile), "gone", "en"); !bytes.Equal(b, want) {
		t.Fatalf("status: %x, want %x", b, want)
	}
	b = appendVersion(nil)
	want := packet(fxpVersion, uint32(3), extHardlink, "1", extPosixRename, "1", extStatVFS, "2", extLimits, "1")
	if !bytes.Equal(b, want) {
		t.Fatalf("version: %x, want %x", b, want)
	}
	b, start := beginPacket([]byte("prefix"), fxpAttrs, 4)
	b = endPacket(appendAttrs(b, fileAttrs{size: 5, mode: modeFile | 0o644, mtime: 6}), start)
	want = append([]byte("prefix"), packet(fxpAttrs, uint32(4), uint32(attrSize|attrPermissions|attrACModTime), uint64(5), uint32(0o100644), uint32(6), uint32(6))...)
	if !bytes.Equal(b, want) {
		t.Fatalf("attrs: %x, want %x", b, want)
	}
}

// FuzzRequest: no packet makes the decoder panic or read outside the packet, and what it
// decodes lies within the bounds it promises.
func FuzzRequest(f *testing.F) {
	for _, seed := range [][]byte{
		body(fxpInit, uint32(3)),
		body(fxpOpen, uint32(1), "/a", uint32(fxfRead), uint32(attrSize|attrExtended), uint64(1), uint32(1), "k", "v"),
		body(fxpRead, uint32(2), "1", uint64(0), uint32(65536)),
		body(fxpWrite, uint32(3), "1", uint64(0), "data"),
		body(fxpSetstat, uint32(4), "/a", uint32(attrACModTime), uint32(1), uint32(2)),
		body(fxpRename, uint32(5), "/a", "/b"),
		body(fxpExtended, uint32(6), extPosixRename, "/a", "/b"),
		body(fxpExtended, uint32(7), extLimits),
		body(fxpExtended, uint32(8), extStatVFS, "/"),
		body(fxpFsetstat, uint32(9), "1", uint32(attrExtended), uint32(0xffffffff)),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, ok, err := parseRequest(in)
		if !ok {
			return
		}
		for _, b := range [][]byte{r.path, r.path2, r.handle, r.data} {
			if len(b) > len(in) {
				t.Fatalf("a field of %d bytes from a packet of %d", len(b), len(in))
			}
		}
		if len(r.path) > maxPathLength || len(r.path2) > maxPathLength || len(r.handle) > maxHandleLength {
			t.Fatalf("a field beyond its limit: %d, %d, %d bytes", len(r.path), len(r.path2), len(r.handle))
		}
		if r.offset < 0 {
			t.Fatalf("negative offset %d", r.offset)
		}
		if err == nil && r.typ == fxpWrite && cap(r.data) != len(r.data) {
			t.Fatal("a WRITE's data can be appended to over the rest of the packet")
		}
	})
}
