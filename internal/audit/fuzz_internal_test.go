package audit

import (
	"bytes"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzRecordHash checks the two properties the chain rests on (docs/audit.md): the
// encoding hashed for a record is unambiguous, so two records that differ in any field
// (or in the hash they chain to) never share a hash; and stored() bounds every free-text
// field without breaking a UTF-8 sequence.
func FuzzRecordHash(f *testing.F) {
	f.Add(int64(1), int64(0), "alice", "192.0.2.1", "https", "file.upload", "/a", "", int64(3), "ok", "", byte(0),
		int64(1), int64(0), "alice", "192.0.2.1", "https", "file.upload", "/a", "", int64(3), "ok", "", byte(0))
	// The same bytes moved between adjacent fields: what a length prefix exists for.
	f.Add(int64(7), int64(1), "ab", "c", "sftp", "login", "/x", "y", int64(0), "denied", "d", byte(1),
		int64(7), int64(1), "a", "bc", "sftp", "login", "/x", "y", int64(0), "denied", "d", byte(1))
	f.Add(int64(2), int64(5), "", "", "", "", "/p", "", int64(-1), "", "\xe2\x82", byte(2),
		int64(2), int64(5), "-", "", "", "", "/p", "", int64(-1), "", "\xe2", byte(2))
	f.Fuzz(func(t *testing.T,
		seqA, atA int64, actorA, ipA, protoA, actionA, pathA, targetA string, bytesA int64, resultA, detailA string, prevA byte,
		seqB, atB int64, actorB, ipB, protoB, actionB, pathB, targetB string, bytesB int64, resultB, detailB string, prevB byte) {
		mk := func(seq, at int64, actor, ip, proto, action, path, target string, n int64, result, detail string, prev byte) (Record, []byte, int64) {
			return Record{At: time.UnixMicro(at), Actor: actor, SourceIP: ip, Protocol: proto, Action: action,
				Path: path, Target: target, Bytes: n, Result: result, Detail: detail}, bytes.Repeat([]byte{prev}, 32), seq
		}
		ra, pa, sa := mk(seqA, atA, actorA, ipA, protoA, actionA, pathA, targetA, bytesA, resultA, detailA, prevA)
		rb, pb, sb := mk(seqB, atB, actorB, ipB, protoB, actionB, pathB, targetB, bytesB, resultB, detailB, prevB)
		a, b := stored(ra), stored(rb)
		a.Seq, a.PrevHash, b.Seq, b.PrevHash = sa, pa, sb, pb
		for _, r := range []struct {
			in  Record
			out string
			max int
		}{{ra, a.Actor, 128}, {ra, a.SourceIP, 64}, {ra, a.Protocol, 16}, {ra, a.Action, 64}, {ra, a.Path, 4096},
			{ra, a.Target, 4096}, {ra, a.Result, 16}, {ra, a.Detail, 1024}} {
			if len(r.out) > r.max {
				t.Fatalf("stored kept %d bytes of a field bounded to %d", len(r.out), r.max)
			}
		}
		for _, pair := range [][2]string{{actorA, a.Actor}, {pathA, a.Path}, {detailA, a.Detail}, {targetA, a.Target}} {
			if utf8.ValidString(pair[0]) && !utf8.ValidString(pair[1]) {
				t.Fatalf("stored split a UTF-8 sequence: %q became %q", pair[0], pair[1])
			}
		}
		same := reflect.DeepEqual(a, b)
		if eq := bytes.Equal(hashRecord(a), hashRecord(b)); eq != same {
			t.Fatalf("records equal=%v but hashes equal=%v:\n%+v\n%+v", same, eq, a, b)
		}
	})
}
