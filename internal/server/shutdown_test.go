package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// startUpload begins a PUT whose body the test feeds through the returned writer; it
// returns once the server has started storing it (a pending blob exists).
func startUpload(t *testing.T, e *testenv.Env, token, path string) (*io.PipeWriter, chan int) {
	t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("PUT", e.URL+"/api/v1/files/"+path, pr)
	req.Header.Set("Authorization", "Bearer "+token)
	status := make(chan int, 1)
	go func() {
		resp, err := e.Client.Do(req)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	if _, err := pw.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids, err := e.Core.DB.Q().PendingBefore(context.Background(), time.Now().Add(time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) > 0 {
			return pw, status
		}
		if time.Now().After(deadline) {
			t.Fatal("the server never started storing the upload")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not a timing assumption
	}
}

func TestShutdownAbortsUnfinishedUpload(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	tok := e.User(t, "alice", 0)
	pw, status := startUpload(t, e, tok, "half.bin")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := e.Shutdown(ctx); err == nil {
		t.Fatal("shutdown reported a clean finish while an upload was in progress")
	}
	pw.CloseWithError(io.ErrClosedPipe)
	if code := <-status; code == http.StatusCreated {
		t.Fatal("an upload cut by shutdown was acknowledged")
	}
	// Nothing half-written is visible, and nothing is left behind once storing stops.
	p := auth.Principal{UserID: userID(t, e, "alice"), Name: "alice"}
	if _, err := e.Core.Files.Stat(context.Background(), p, "/half.bin"); !errs.Is(errs.NotFound, err) {
		t.Fatalf("the aborted upload is visible: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ids, _ := e.Core.DB.Q().PendingBefore(context.Background(), time.Now().Add(time.Hour), 10)
		if len(ids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending blobs left after the aborted upload: %v", ids)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShutdownLetsUploadFinish(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	tok := e.User(t, "alice", 0)
	pw, status := startUpload(t, e, tok, "whole.bin")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- e.Shutdown(ctx)
	}()
	pw.Write(bytes.Repeat([]byte("y"), 1<<20))
	pw.Close()
	if code := <-status; code != http.StatusCreated {
		t.Fatalf("an upload finished during the grace period got %d", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	p := auth.Principal{UserID: userID(t, e, "alice"), Name: "alice"}
	if ent, err := e.Core.Files.Stat(context.Background(), p, "/whole.bin"); err != nil || ent.Size != 2<<20 {
		t.Fatalf("finished upload: %+v %v", ent, err)
	}
}

func userID(t *testing.T, e *testenv.Env, name string) int64 {
	u, err := e.Core.DB.Q().UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}
