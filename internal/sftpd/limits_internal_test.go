package sftpd

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/coffer-mft/coffer/internal/errs"
)

// Copies of writes ahead of their stream count against the session (maxPendingBytes)
// and the server (maxReorderBytes), and count no more once dropped.
func TestReorderLimits(t *testing.T) {
	var all atomic.Int64
	sessions := make([]*packetSource, maxReorderBytes/maxPendingBytes+1)
	for i := range sessions {
		sessions[i] = &packetSource{allHeld: &all}
	}
	if !sessions[0].hold(maxPendingBytes) || sessions[0].hold(1) {
		t.Fatal("a session holds other than exactly maxPendingBytes")
	}
	sessions[0].drop(piece{held: 1 << 20})
	if !sessions[0].hold(1<<20) || sessions[0].hold(1) {
		t.Fatal("a dropped copy still counts against its session")
	}
	for _, s := range sessions[1 : len(sessions)-1] {
		if !s.hold(maxPendingBytes) {
			t.Fatal("the server's limit is reached too soon")
		}
	}
	last := sessions[len(sessions)-1]
	if last.hold(1) || last.held.Load() != 0 || all.Load() != maxReorderBytes {
		t.Fatalf("past the server's limit: held %d by the session, %d in all", last.held.Load(), all.Load())
	}
	sessions[0].drop(piece{held: maxPendingBytes})
	if !last.hold(maxPendingBytes) {
		t.Fatal("room given back to the server is not taken")
	}
}

// The server's own faults reach an SFTP client as generic messages: their details may
// name paths on disk, the database, a bucket or an endpoint.
func TestStatusHidesServerFaults(t *testing.T) {
	for _, err := range []error{
		errs.E(errs.NoSpace, "blob store /srv/coffer/blobs is full (no space left on device)"),
		errs.E(errs.Unavailable, "s3 bucket coffer-prod at https://s3.internal:9000: connection refused"),
		errs.E(errs.Other, "database /srv/coffer/coffer.db: disk I/O error"),
	} {
		st := toStatus(err)
		if st.code != fxFailure || strings.Contains(st.msg, "/srv") || strings.Contains(st.msg, "coffer-prod") || strings.Contains(st.msg, "9000") {
			t.Errorf("%v: status %d %q", err, st.code, st.msg)
		}
	}
	if st := toStatus(errs.E(errs.Quota, "quota exceeded: 1 MB allowed")); !strings.Contains(st.msg, "quota exceeded") {
		t.Errorf("a refusal's message is lost: %q", st.msg)
	}
}

// SetPanicAt makes the server's goroutines panic at where (see Server.bug), for tests
// that a panic ends only what the goroutine serves; nil stops it.
func SetPanicAt(s *Server, where string) {
	if where == "" {
		s.panicAt.Store(nil)
		return
	}
	f := func(at string) {
		if at == where {
			panic("test panic at " + at)
		}
	}
	s.panicAt.Store(&f)
}
