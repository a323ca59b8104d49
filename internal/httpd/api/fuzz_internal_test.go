package api

import (
	"encoding/base64"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/errs"
)

// FuzzTusMetadata feeds parseTusMetadata (the Upload-Metadata header of tus) arbitrary
// values. It must never panic, must refuse only with Invalid, and whatever it accepts
// must survive being encoded again as a client would and parsed back unchanged.
func FuzzTusMetadata(f *testing.F) {
	for _, s := range []string{
		"", " ", "path L3gvcmVwb3J0LmNzdg==", "filename YS50eHQ=,dir L2lu,sha256 " + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("ab", 32))),
		"parents ZmFsc2U=", "is_confidential", "a,a", "a b c", ",", "path Li4vLi4vZXRjL3Bhc3N3ZA==", "path L2EAYg==",
		"filename " + base64.StdEncoding.EncodeToString([]byte("a/../../b")), "k !!!", "k\x00 YQ==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		m, err := parseTusMetadata(v)
		if err != nil {
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("parseTusMetadata(%q): kind %v, want Invalid: %v", v, errs.KindOf(err), err)
			}
			return
		}
		if len(v) > 16<<10 {
			t.Fatalf("parseTusMetadata accepted %d bytes", len(v))
		}
		var pairs []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if k == "" || strings.ContainsAny(k, " ,") {
				t.Fatalf("parseTusMetadata(%q) returned the key %q", v, k)
			}
			pairs = append(pairs, k+" "+base64.StdEncoding.EncodeToString([]byte(m[k])))
		}
		again, err := parseTusMetadata(strings.Join(pairs, ","))
		if err != nil && len(strings.Join(pairs, ",")) <= 16<<10 {
			t.Fatalf("re-encoded %q: %v", v, err)
		}
		if err == nil && !maps.Equal(m, again) {
			t.Fatalf("parseTusMetadata(%q) = %q, but re-encoded it is %q", v, m, again)
		}
	})
}

// FuzzDigestHeader feeds parseDigest (Repr-Digest and Content-Digest of uploads)
// arbitrary values: no panic, and an accepted sha-256 is 32 bytes.
func FuzzDigestHeader(f *testing.F) {
	for _, s := range []string{"", "sha-256=:" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + ":", "sha-512=:AA==:", "sha-256=", "sha-256=::", "SHA-256=:x:", ",,", "a=b, sha-256=:AAAA:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sum, err := parseDigest(v)
		if err == nil && sum != nil && len(sum) != 32 {
			t.Fatalf("parseDigest(%q) = %d bytes", v, len(sum))
		}
	})
}
