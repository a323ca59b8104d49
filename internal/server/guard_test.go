package server_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/testenv"
)

// TestGuard: requests that the Go release in use handles badly are stopped before any
// handler: CONNECT, Range headers of very many ranges, and large bodies to web forms.
func TestGuard(t *testing.T) {
	e := testenv.New(t, testenv.Options{})
	tok := e.User(t, "alice", 0)
	content := strings.Repeat("0123456789", 100)
	resp, body := e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/files/f.txt", Token: tok, Body: strings.NewReader(content)})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	// A few ranges are served as ranges; very many get the whole file.
	for _, c := range []struct {
		n    int
		code int
	}{{2, http.StatusPartialContent}, {16, http.StatusPartialContent}, {17, http.StatusOK}, {2000, http.StatusOK}} {
		var rs []string
		for i := range c.n {
			rs = append(rs, fmt.Sprintf("%d-%d", i, i))
		}
		resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/f.txt", Token: tok, Header: http.Header{"Range": {"bytes=" + strings.Join(rs, ",")}}})
		if resp.StatusCode != c.code {
			t.Errorf("%d ranges: %d, want %d", c.n, resp.StatusCode, c.code)
		}
		if c.code == http.StatusOK && string(body) != content {
			t.Errorf("%d ranges: not the whole file", c.n)
		}
	}
	// A multipart body over 1 MiB to the sign-in form is cut off, not spooled.
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("user", "alice")
	fw, _ := mw.CreateFormFile("junk", "junk.bin")
	fw.Write(bytes.Repeat([]byte("x"), 2<<20))
	mw.WriteField("password", "password-of-alice")
	mw.Close()
	req, _ := http.NewRequest("POST", e.URL+"/login", &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	c := &http.Client{Transport: e.Client.Transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	r, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode == http.StatusSeeOther {
		t.Errorf("a 2 MiB multipart sign-in was read whole and signed in")
	}
	// CONNECT is refused, and the connection closed.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.CertPEM)
	conn, err := tls.Dial("tcp", strings.TrimPrefix(e.URL, "https://"), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	resp1, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp1.Body.Close()
	if resp1.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("CONNECT: %d", resp1.StatusCode)
	}
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Error("the connection went on after CONNECT")
	}
}
