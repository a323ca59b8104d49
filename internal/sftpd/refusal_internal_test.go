package sftpd

import (
	"fmt"
	"testing"
	"time"
)

// One warning per address in refusalQuiet, and the memory stays bounded.
func TestRefusalLog(t *testing.T) {
	var r refusalLog
	t0 := time.Unix(1_800_000_000, 0)
	if !r.warn("192.0.2.1", t0) || r.warn("192.0.2.1", t0.Add(time.Minute)) {
		t.Fatal("the second refusal within minutes was warned about, or the first was not")
	}
	if !r.warn("192.0.2.2", t0.Add(time.Minute)) {
		t.Error("another address was not warned about")
	}
	if !r.warn("192.0.2.1", t0.Add(refusalQuiet+time.Second)) {
		t.Error("a refusal after the quiet time was not warned about")
	}
	for i := range 3 * refusalMax {
		r.warn(fmt.Sprintf("198.51.%d.%d", i/256, i%256), t0)
	}
	if n := len(r.last); n > refusalMax {
		t.Errorf("%d addresses remembered, at most %d", n, refusalMax)
	}
}
