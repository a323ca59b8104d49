package sftpd_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/pkg/sftp"

	"github.com/coffer-mft/coffer/internal/sftpd"
)

// Tests of hostile and unusual write patterns over raw SFTP: writes out of order beside
// other sessions, an upload that the server stops while the client still pipelines, and
// the limit on what waits out of order.

// openRaw is rawSession past INIT.
func openRaw(t *testing.T, e *env, user string) *rawSFTP {
	t.Helper()
	s := rawSession(t, e, user)
	s.send(fxpInit, uint32(3))
	if typ, _ := s.recv(); typ != fxpVersion {
		t.Fatalf("answer to INIT: type %d", typ)
	}
	return s
}

// create opens path for writing (created or truncated) and returns its handle.
func (r *rawSFTP) create(id uint32, path string) string {
	r.t.Helper()
	r.send(fxpOpen, id, path, uint32(fxfWrite|fxfCreat|fxfTrunc), uint32(0))
	return r.expect(fxpHandle, id).string()
}

// pipeline sends packets from another goroutine, so that the test can read the answers
// while the server still receives (it stops reading when its answers are not read); the
// channel returns the first write error, or nil.
func (r *rawSFTP) pipeline(packets [][]byte) <-chan error {
	done := make(chan error, 1)
	go func() {
		for _, p := range packets {
			if _, err := r.in.Write(p); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

func writePacket(id uint32, handle string, off int64, data []byte) []byte {
	return sftpd.Packet(fxpWrite, id, handle, uint64(off), string(data))
}

// The data of a write that arrives ahead of its upload's stream waits in a copy; it was
// once copied after its packet's buffer went back to the pool that all sessions share,
// where another session's next packet could overwrite it first: the file then held
// another user's bytes, and every answer was OK. Here alice writes in swapped pairs
// while bob streams other bytes on two sessions. The race detector (CI runs it) reports
// the old order at once; without it, the file was wrong in some runs.
func TestOutOfOrderWritesBesideOtherSessions(t *testing.T) {
	e := start(t, sftpd.Config{})
	e.User(t, "alice", 0)
	e.User(t, "bob", 0)
	const size = 32 << 10
	const pairs = 150

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 2 {
		b := openRaw(t, e, "bob")
		h := b.create(1, fmt.Sprintf("/bob-%d", c))
		wg.Add(2)
		go func() { // his answers, unread
			defer wg.Done()
			io.Copy(io.Discard, b.out)
		}()
		go func() {
			defer wg.Done()
			z := bytes.Repeat([]byte{'Z'}, size)
			for id := uint32(2); ; id++ {
				select {
				case <-stop:
					b.in.Close()
					return
				default:
				}
				if _, err := b.in.Write(writePacket(id, h, int64(id-2)*size, z)); err != nil {
					return
				}
			}
		}()
	}

	a := openRaw(t, e, "alice")
	h := a.create(1, "/results.bin")
	var want []byte
	var packets [][]byte
	for i := range 2 * pairs {
		want = append(want, bytes.Repeat([]byte{byte('a' + i%26)}, size)...)
	}
	for i := 0; i < 2*pairs; i += 2 {
		second, first := int64(i+1)*size, int64(i)*size
		packets = append(packets,
			writePacket(uint32(10+i), h, second, want[second:second+size]),
			writePacket(uint32(11+i), h, first, want[first:first+size]))
	}
	sent := a.pipeline(packets)
	for i := range 2 * pairs {
		if code, msg := a.expectStatus(uint32(10 + i)); code != fxOK {
			t.Fatalf("write %d: status %d %q", i, code, msg)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	a.send(fxpClose, uint32(2), h)
	if code, msg := a.expectStatus(2); code != fxOK {
		t.Fatalf("close: status %d %q", code, msg)
	}
	close(stop)
	wg.Wait()

	r, err := e.Core.Files.Open(context.Background(), e.principal(t, "alice"), "/results.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := io.ReadAll(io.NewSectionReader(r, 0, r.Size()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the stored file differs from what was written (%d bytes, %d of them bob's)", len(got), bytes.Count(got, []byte{'Z'}))
	}
}

// When the server stops an upload early (here its quota) while the client still has
// writes in flight, as OpenSSH's sftp keeps 64 of 64 KiB, every request is answered and
// CLOSE says why. The writes the upload left unread once held the session's whole
// request budget, so the server read nothing more and the session hung.
func TestUploadStoppedEarlyAnswersEveryRequest(t *testing.T) {
	e := start(t, sftpd.Config{})
	e.User(t, "lab", 1<<20)
	s := openRaw(t, e, "lab")
	h := s.create(1, "/too-big.bin")
	const size, n = 64 << 10, 64 // 4 MiB against a quota of 1 MiB
	data := bytes.Repeat([]byte{'q'}, size)
	var packets [][]byte
	for i := range n {
		packets = append(packets, writePacket(uint32(10+i), h, int64(i)*size, data))
	}
	packets = append(packets, sftpd.Packet(fxpClose, uint32(2), h))
	sent := s.pipeline(packets)
	refused := 0
	for i := range n {
		if code, _ := s.expectStatus(uint32(10 + i)); code != fxOK {
			refused++
		}
	}
	code, msg := s.expectStatus(2)
	if code != fxFailure || !strings.Contains(msg, "quota") {
		t.Fatalf("close of an upload over quota: status %d %q", code, msg)
	}
	if refused == 0 {
		t.Fatal("no write was refused once the upload went over quota")
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	// The session goes on.
	s.send(fxpRealpath, uint32(3), ".")
	s.expect(fxpName, 3)
}

// Writes ahead of the stream wait in copies of at most 4 MiB per session, whatever the
// number of files open: one account cannot make the server hold more by opening more.
// A write past the limit fails its upload with a message that says what to do, and the
// copies count no more once their upload has consumed or dropped them.
func TestOutOfOrderWritesBoundedPerSession(t *testing.T) {
	e := start(t, sftpd.Config{})
	e.User(t, "mallory", 0)
	s := openRaw(t, e, "mallory")
	const size = 64 << 10
	data := bytes.Repeat([]byte{'m'}, size)
	// ahead sends writes at offsets 1..n pieces (all ahead of the stream, which waits for
	// piece 0) and returns the answers' codes and the last message that was not OK.
	ahead := func(h string, firstID uint32, n int) (ok int, refusal string) {
		t.Helper()
		var packets [][]byte
		for i := range n {
			packets = append(packets, writePacket(firstID+uint32(i), h, int64(i+1)*size, data))
		}
		sent := s.pipeline(packets)
		for i := range n {
			if code, msg := s.expectStatus(firstID + uint32(i)); code == fxOK {
				ok++
			} else {
				refusal = msg
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
		return ok, refusal
	}

	first, second := s.create(1, "/first.bin"), s.create(2, "/second.bin")
	if ok, msg := ahead(first, 100, 40); ok != 40 { // 2.5 MiB waiting
		t.Fatalf("%d of 40 writes ahead accepted (%q), want all within the limit", ok, msg)
	}
	ok, msg := ahead(second, 200, 40) // 2.5 MiB more: past 4 MiB for the session
	if ok != 24 || !strings.Contains(msg, "at most 4 MiB per session") {
		t.Fatalf("second file: %d writes ahead accepted, want 24 (4 MiB in all); last refusal %q", ok, msg)
	}
	// The first file completes with its first piece; the second was failed.
	s.send(fxpWrite, uint32(300), first, uint64(0), string(data))
	if code, msg := s.expectStatus(300); code != fxOK {
		t.Fatalf("the missing piece: status %d %q", code, msg)
	}
	s.send(fxpClose, uint32(301), first)
	if code, msg := s.expectStatus(301); code != fxOK {
		t.Fatalf("close of the completed file: status %d %q", code, msg)
	}
	s.send(fxpClose, uint32(302), second)
	if code, _ := s.expectStatus(302); code == fxOK {
		t.Fatal("the file refused a write was stored")
	}
	// Both gave back what they held: a third file may hold nearly the whole limit.
	third := s.create(3, "/third.bin")
	if ok, msg := ahead(third, 400, 60); ok != 60 {
		t.Fatalf("after both uploads ended, %d of 60 writes ahead accepted (%q)", ok, msg)
	}
}

// FSETSTAT applies to its own handle's upload. With several uploads of one path open,
// one failed (a write far ahead of its stream), an fsetstat of a healthy one must not be
// answered with the failed one's error, and its upload completes.
func TestFsetstatIsPerHandle(t *testing.T) {
	t.Parallel()
	e := start(t, sftpd.Config{})
	e.User(t, "fay", 0)
	c, _ := e.login(t, "fay")
	for round := range 3 {
		var failed []*sftp.File
		for range 8 {
			f, err := c.OpenFile("/same.csv", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("x"), 100<<20); err == nil {
				t.Fatal("a write 100 MiB ahead of its stream was accepted")
			}
			failed = append(failed, f)
		}
		good, err := c.OpenFile("/same.csv", os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := good.Write([]byte("a,b\n")); err != nil {
			t.Fatal(err)
		}
		if err := good.Chmod(0o644); err != nil {
			t.Fatalf("round %d: fsetstat of a healthy upload: %v", round, err)
		}
		if err := good.Close(); err != nil {
			t.Fatalf("round %d: close: %v", round, err)
		}
		for _, f := range failed {
			f.Close()
		}
	}
}
