package api_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"testing"

	"github.com/coffer-mft/coffer/internal/testenv"
)

// BenchmarkTransfer measures upload and download of 64 MiB through the whole server
// (TLS, API, files, encryption, local blob store, SQLite) in one process.
func BenchmarkTransfer(b *testing.B) {
	e := testenv.New(b, testenv.Options{})
	tok := e.User(b, "bench", 0)
	content := make([]byte, 64<<20)
	rand.Read(content)
	if resp, body := e.Do(b, testenv.Request{Method: "PUT", Path: "/api/v1/files/big.bin", Token: tok, Body: bytes.NewReader(content)}); resp.StatusCode != http.StatusCreated {
		b.Fatalf("%d %s", resp.StatusCode, body)
	}
	b.Run("upload", func(b *testing.B) {
		b.SetBytes(int64(len(content)))
		for b.Loop() {
			resp, body := e.Do(b, testenv.Request{Method: "PUT", Path: "/api/v1/files/big.bin", Token: tok, Body: bytes.NewReader(content)})
			if resp.StatusCode != http.StatusCreated {
				b.Fatalf("%d %s", resp.StatusCode, body)
			}
		}
	})
	b.Run("download", func(b *testing.B) {
		b.SetBytes(int64(len(content)))
		for b.Loop() {
			req, _ := http.NewRequest("GET", e.URL+"/api/v1/files/big.bin", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := e.Client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if n != int64(len(content)) {
				b.Fatalf("got %d bytes", n)
			}
		}
	})
}
