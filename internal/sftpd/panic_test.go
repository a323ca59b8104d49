package sftpd_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/sftpd"
	"github.com/coffer-mft/coffer/internal/testenv/syncbuf"
)

// A panic in the server (a bug) ends only what it hit: an upload fails with a generic
// message, a read fails, a request's panic ends its session. The server goes on serving
// the same user and others, and the log has the panic with its stack.
func TestPanicEndsOnlyWhatItHit(t *testing.T) {
	var log syncbuf.Buffer
	e := start(t, sftpd.Config{Log: slog.New(slog.NewTextHandler(&log, nil))})
	e.User(t, "tess", 0)
	c, _ := e.login(t, "tess")
	data := bytes.Repeat([]byte("results "), 200_000) // 1.6 MB: more than one read-ahead block
	put := func(name string) error {
		f, err := c.Create(name)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := put("/before.bin"); err != nil {
		t.Fatal(err)
	}

	sftpd.SetPanicAt(e.srv, "upload")
	err := put("/upload.bin")
	sftpd.SetPanicAt(e.srv, "")
	if err == nil || !strings.Contains(err.Error(), "administrator can find the cause in the server log") {
		t.Fatalf("an upload whose goroutine panicked: %v; want the generic internal error", err)
	}

	sftpd.SetPanicAt(e.srv, "read-ahead")
	f, err := c.Open("/before.bin")
	if err == nil {
		_, err = f.WriteTo(new(bytes.Buffer))
		f.Close()
	}
	sftpd.SetPanicAt(e.srv, "")
	if err == nil {
		t.Fatal("a download whose read-ahead panicked succeeded")
	}

	sftpd.SetPanicAt(e.srv, "request")
	_, err = c.Stat("/before.bin")
	sftpd.SetPanicAt(e.srv, "")
	if err == nil {
		t.Fatal("a request that panicked was answered")
	}

	// The server goes on: a new session of the same user uploads and reads back.
	c2, _ := e.login(t, "tess")
	c = c2 // put uses c
	if err := put("/after.bin"); err != nil {
		t.Fatalf("after the panics: %v", err)
	}
	if _, err := c2.Stat("/upload.bin"); err == nil {
		t.Error("the upload that panicked is visible")
	}
	if got := log.String(); strings.Count(got, "a panic was contained") < 2 || !strings.Contains(got, "goroutine") {
		t.Errorf("the server log does not show the panics with their stacks:\n%.2000s", got)
	}
}
