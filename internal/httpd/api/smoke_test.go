package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/testenv"
)

func TestSmokeUploadDownloadList(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	tok := e.User(t, "alice", 0)
	content := bytes.Repeat([]byte("0123456789"), 100_000)
	resp, body := e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files/reports/2026/a.csv", Token: tok, Body: bytes.NewReader(content)})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	sum := sha256.Sum256(content)
	if !strings.Contains(string(body), hex.EncodeToString(sum[:])) {
		t.Fatalf("upload response lacks the digest: %s", body)
	}
	resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/reports/2026/a.csv", Token: tok})
	if resp.StatusCode != 200 || !bytes.Equal(body, content) {
		t.Fatalf("download: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/reports/2026/a.csv", Token: tok, Header: http.Header{"Range": {"bytes=10-19"}}})
	if resp.StatusCode != http.StatusPartialContent || string(body) != "0123456789" {
		t.Fatalf("range: %d %q", resp.StatusCode, body)
	}
	resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/dirs/reports/2026", Token: tok})
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"a.csv"`) {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	resp, body = e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/../../etc/passwd", Token: tok})
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("traversal: %d %s", resp.StatusCode, body)
	}
	t.Logf("%s", body)
}
