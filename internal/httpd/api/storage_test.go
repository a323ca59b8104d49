package api_test

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// Layout of a stored file, from docs/format.md: a 16-byte nonce, then 64 KiB chunks of
// ciphertext, each followed by a 16-byte tag.
const (
	nonceSize   = 16
	sealedChunk = 64<<10 + 16
)

// TestCorruptedBlob flips one byte of a stored file in each part of it and checks that
// no client ever receives content that is not the file's: a download either fails
// cleanly (500 problem), or breaks off after a correct prefix.
func TestCorruptedBlob(t *testing.T) {
	t.Parallel()
	// Chunks of 64 KiB, the last one short, over three read-ahead blocks.
	content := make([]byte, 2*files.ReadAheadSize+8192)
	beyond := int64(files.ReadAheadSize/(64<<10) + 1) // a chunk past the first read-ahead
	for i := range content {
		content[i] = byte(i*7 + i/251)
	}
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		upload(t, e, tok, "intact.bin", content)
		for _, tc := range []struct {
			name   string
			offset int64 // in the blob file; negative counts from its end
			ranges []string
			clean  bool // the whole file is refused before any content: a 500 problem
		}{
			{"nonce", 3, []string{"bytes=0-9", "bytes=70000-70009"}, true},
			{"first chunk", nonceSize + 1000, []string{"bytes=0-9", "bytes=-10"}, true},
			{"second chunk", nonceSize + sealedChunk + 1000, []string{"bytes=65536-65545", "bytes=60000-70000"}, true},
			{"tag of the third chunk", nonceSize + 3*sealedChunk - 1, []string{"bytes=131072-"}, true},
			{"past the first read-ahead", nonceSize + beyond*sealedChunk + 5, []string{"bytes=0-9", "bytes=0-", "bytes=0-0,-1"}, false},
			{"last chunk", -20, []string{"bytes=-10"}, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				name := strings.ReplaceAll(tc.name, " ", "-") + ".bin"
				before := blobFiles(t, e)
				upload(t, e, tok, name, content)
				var blob string
				for _, f := range blobFiles(t, e) {
					if !slices.Contains(before, f) {
						blob = f
					}
				}
				if blob == "" {
					t.Fatal("cannot find the new blob")
				}
				e.FlipBlobByte(t, blob, tc.offset)

				for _, rng := range append([]string{""}, tc.ranges...) {
					hdr := http.Header{}
					if rng != "" {
						hdr.Set("Range", rng)
					}
					resp, body, err := rawGet(t, e, tok, "/api/v1/files/"+name, hdr)
					if rng == "" && tc.clean && (resp == nil || resp.StatusCode != http.StatusInternalServerError) {
						t.Errorf("whole file: %v, want a 500 problem before any content", statusOf(resp, err))
					}
					if resp == nil {
						continue // the connection broke before an answer: nothing was received
					}
					if resp.StatusCode >= 300 {
						wantProblem(t, resp, body, http.StatusInternalServerError)
						for _, h := range []string{"Content-Range", "ETag", "Repr-Digest", "Content-Disposition", "Last-Modified"} {
							if v := resp.Header.Get(h); v != "" {
								t.Errorf("Range %q: the problem carries %s: %s of the file", rng, h, v)
							}
						}
						if bytes.Contains(body, []byte(e.Core.Config.DataDir)) {
							t.Errorf("the problem reveals server paths: %s", body)
						}
						continue
					}
					// Some content was sent: each part must be a true part of the file, and a
					// part that covers the corrupted chunk must not arrive whole.
					chunk := (tc.offset - nonceSize) / sealedChunk
					if tc.offset < 0 {
						chunk = int64(len(content)) / (64 << 10)
					}
					for _, part := range contentParts(t, resp, body, err) {
						if !bytes.Equal(part.data, content[part.start:part.start+int64(len(part.data))]) {
							t.Fatalf("Range %q: %d: the client received wrong bytes", rng, resp.StatusCode)
						}
						covers := tc.offset < nonceSize || (part.start>>16 <= chunk && chunk <= (part.start+part.length-1)>>16)
						if covers && part.whole {
							t.Errorf("Range %q: %d: all %d bytes of a corrupted chunk arrived without an error", rng, resp.StatusCode, part.length)
						}
					}
				}
				// The failures are in the log, not as successful downloads.
				for _, r := range auditLog(t, e, "action=file.download&path="+name) {
					if r.Result == "ok" && r.Bytes >= int64(len(content)) {
						t.Errorf("a download of the corrupted file is recorded as %+v", r)
					}
				}
				if recs := auditLog(t, e, "action=file.download&path="+name); !slices.ContainsFunc(recs, func(r auditRecord) bool { return r.Result == "error" }) {
					t.Errorf("no download of the corrupted file is recorded as failed: %+v", recs)
				}
			})
		}
		// Nothing else is affected.
		if got := download(t, e, tok, "intact.bin"); !bytes.Equal(got, content) {
			t.Error("the intact file no longer downloads")
		}
		resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/files/intact.bin", Token: tok, Header: http.Header{"Range": {"bytes=100000-100009"}}})
		wantStatus(t, resp, body, http.StatusPartialContent)
		if !bytes.Equal(body, content[100000:100010]) {
			t.Errorf("a range of the intact file: %q", body)
		}
	})
}

func statusOf(resp *http.Response, err error) string {
	if resp == nil {
		return fmt.Sprintf("no response (%v)", err)
	}
	return resp.Status
}

// contentPart is one range of a download as received.
type contentPart struct {
	start, length int64 // as announced
	data          []byte
	whole         bool // all of it arrived, and the response ended cleanly
}

// contentParts splits a 200 or 206 response, single or multipart, into its parts.
func contentParts(t *testing.T, resp *http.Response, body []byte, readErr error) []contentPart {
	t.Helper()
	mt, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "multipart/byteranges" {
		p := contentPart{length: resp.ContentLength, data: body}
		if cr := resp.Header.Get("Content-Range"); cr != "" {
			var end int64
			fmt.Sscanf(cr, "bytes %d-%d/", &p.start, &end)
		}
		p.whole = readErr == nil && int64(len(body)) == p.length
		return []contentPart{p}
	}
	var parts []contentPart
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		mp, err := mr.NextPart()
		if err != nil {
			return parts // the end, or a body that broke off
		}
		var p contentPart
		var end int64
		fmt.Sscanf(mp.Header.Get("Content-Range"), "bytes %d-%d/", &p.start, &end)
		p.length = end - p.start + 1
		p.data, err = io.ReadAll(mp)
		p.whole = err == nil && readErr == nil && int64(len(p.data)) == p.length
		parts = append(parts, p)
	}
}

// flipByte inverts the byte at off of the file at path (from the end if off < 0).
// TestPlaintextAtRest uploads a distinctive pattern and checks that no file the server
// keeps (database, its journal, blobs, keys, logs) holds it in the clear.
func TestPlaintextAtRest(t *testing.T) {
	t.Parallel()
	marker := []byte("COFFER-PLAINTEXT-MARKER-7f3a9c-")
	content := bytes.Repeat(marker, (1<<20)/len(marker)+1)[:1<<20]
	eachServer(t, func(t *testing.T, e *testenv.Env) {
		tok := e.User(t, "alice", 0)
		upload(t, e, tok, "one.bin", content)
		upload(t, e, tok, "small.txt", marker) // a file of one chunk, smaller than a page
		upload(t, e, tok, "gone.bin", content) // stored then deleted
		resp, body := e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/files/gone.bin", Token: tok})
		wantStatus(t, resp, body, http.StatusNoContent)
		if got := download(t, e, tok, "one.bin"); !bytes.Equal(got, content) {
			t.Fatal("the file does not read back")
		}

		// The scan finds the marker where it is.
		canary := filepath.Join(t.TempDir(), "canary")
		if err := os.WriteFile(canary, append(make([]byte, 1<<20-5), marker...), 0o600); err != nil {
			t.Fatal(err)
		}
		if found, err := fileContains(canary, marker); err != nil || !found {
			t.Fatalf("the scan misses the marker across a buffer boundary: %v %v", found, err)
		}

		var scanned, blobBytes int64
		err := filepath.WalkDir(e.Core.Config.DataDir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			scanned += info.Size()
			if strings.HasPrefix(path, e.Core.Config.BlobDir()) {
				blobBytes += info.Size()
			}
			found, err := fileContains(path, marker)
			if err != nil {
				return err
			}
			if found {
				t.Errorf("%s holds the plaintext", path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !e.LocalBlobs() { // in S3: the objects are scanned where they are
			for _, name := range blobFiles(t, e) {
				b := e.ReadBlob(t, name)
				blobBytes += int64(len(b))
				if bytes.Contains(b, marker) {
					t.Errorf("blob %s holds the plaintext", name)
				}
			}
		}
		if blobBytes < 1<<20 {
			t.Fatalf("only %d bytes of blobs: the content is stored elsewhere?", blobBytes)
		}
		t.Logf("scanned %d bytes", scanned)
	})
}
