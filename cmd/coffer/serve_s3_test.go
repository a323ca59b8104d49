package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-mft/coffer/internal/blob/s3/s3test"
)

// serve --blobs s3://... keeps file contents in the bucket, encrypted, and nothing
// in the data directory's blob store; the files read back after a restart.
func TestServeS3(t *testing.T) {
	sv := s3test.Env(t)
	bucket := sv.Bucket(t)
	dir := t.TempDir()
	vars := map[string]string{
		"COFFER_BLOBS":          "s3://" + bucket + "/coffer?endpoint=" + sv.Endpoint + "&path-style=true",
		"AWS_ACCESS_KEY_ID":     sv.AccessKey,
		"AWS_SECRET_ACCESS_KEY": sv.SecretKey,
		"COFFER_ADMIN_PASSWORD": "a long enough password",
	}
	s := startServe(t, dir, vars)
	if want := "Blobs:     s3://" + bucket + "/coffer/?endpoint="; !strings.Contains(s.banner, want) {
		t.Errorf("banner lacks %q:\n%s", want, s.banner)
	}
	if strings.Contains(s.banner+s.stderr.String(), sv.SecretKey) {
		t.Fatal("the S3 secret reached the banner or the log")
	}

	certPEM, err := os.ReadFile(filepath.Join(dir, "tls", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	do := func(addr, method, path, token string, body []byte, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+addr+path, bytes.NewReader(body))
		if token == "" {
			req.SetBasicAuth("admin", vars["COFFER_ADMIN_PASSWORD"])
		} else {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, got, want)
		}
		return got
	}
	var tok struct{ Token string }
	if err := json.Unmarshal(do(s.addr, "POST", "/api/v1/tokens", "", nil, http.StatusCreated), &tok); err != nil {
		t.Fatal(err)
	}
	content := make([]byte, 9<<20+123) // more than one part
	rand.Read(content)
	do(s.addr, "PUT", "/api/v1/files/big.bin", tok.Token, content, http.StatusCreated)
	if got := do(s.addr, "GET", "/api/v1/files/big.bin", tok.Token, nil, http.StatusOK); !bytes.Equal(got, content) {
		t.Fatalf("downloaded %d bytes that differ from the %d uploaded", len(got), len(content))
	}

	var keys []string
	for o := range sv.Client(t).ListObjectsIter(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
		if o.Size < int64(len(content)) {
			t.Errorf("object %s holds %d bytes, fewer than the file's %d", o.Key, o.Size, len(content))
		}
	}
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "coffer/") {
		t.Errorf("bucket holds %v, want one blob under coffer/", keys)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, "blobs")); len(entries) != 0 {
		t.Errorf("the local blob directory holds %d entries", len(entries))
	}
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exited %d; stderr:\n%s", code, s.stderr)
	}

	s2 := startServe(t, dir, vars)
	if got := do(s2.addr, "GET", "/api/v1/files/big.bin", tok.Token, nil, http.StatusOK); !bytes.Equal(got, content) {
		t.Fatal("after a restart the file reads back different")
	}
}
