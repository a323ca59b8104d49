package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/parcel/e2e"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// parcelEnv is a running server, a user's token and the files to send.
type parcelEnv struct {
	t      *testing.T
	e      *testenv.Env
	token  string
	ca     string
	dir    string
	files  map[string][]byte
	offset atomic.Int64 // added to the server's clock, for expiry
}

func newParcelEnv(t *testing.T) *parcelEnv {
	e := testenv.New(t, testenv.Options{})
	pe := &parcelEnv{t: t, e: e, dir: t.TempDir(), files: map[string][]byte{}}
	// Set before any parcel request; later moves go through the atomic.
	e.Core.Parcels.SetClock(func() time.Time { return time.Now().Add(time.Duration(pe.offset.Load())) })
	pe.token = e.User(t, "alice", 0)
	pe.ca = filepath.Join(pe.dir, "ca.pem")
	if err := os.WriteFile(pe.ca, e.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, size := range map[string]int{"results.pdf": 3*e2e.ChunkSize + 17, "empty.txt": 0, "note €.txt": 100} {
		b := make([]byte, size)
		rand.Read(b)
		pe.files[name] = b
		if err := os.WriteFile(filepath.Join(pe.dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return pe
}

func (pe *parcelEnv) run(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
	code := run(context.Background(), e, args)
	return code, out.String(), errOut.String()
}

// send sends every test file with extra flags and returns the printed lines.
func (pe *parcelEnv) send(stdin string, extra ...string) []string {
	pe.t.Helper()
	args := append([]string{"send", "--server", pe.e.URL, "--token", pe.token, "--ca-file", pe.ca}, extra...)
	for name := range pe.files {
		args = append(args, filepath.Join(pe.dir, name))
	}
	code, out, errOut := pe.run(stdin, args...)
	if code != 0 {
		pe.t.Fatalf("send: exit %d: %s", code, errOut)
	}
	return strings.Split(strings.TrimSpace(out), "\n")
}

// receive receives link into a new directory and returns it, the exit code and stderr.
func (pe *parcelEnv) receive(stdin, link string, extra ...string) (string, int, string) {
	out := filepath.Join(pe.t.TempDir(), "in")
	args := append([]string{"receive", "--out", out, "--ca-file", pe.ca}, extra...)
	code, _, errOut := pe.run(stdin, append(args, link)...)
	return out, code, errOut
}

// wantFiles checks that dir holds exactly the sent files.
func (pe *parcelEnv) wantFiles(dir string) {
	pe.t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != len(pe.files) {
		pe.t.Fatalf("%s holds %d entries (%v), want %d", dir, len(entries), err, len(pe.files))
	}
	for name, want := range pe.files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			pe.t.Fatalf("%s: %v (%d bytes, want %d)", name, err, len(got), len(want))
		}
	}
}

// wantFailure checks that a receive failed with a message containing msg and wrote no file.
func (pe *parcelEnv) wantFailure(dir string, code int, stderr, msg string) {
	pe.t.Helper()
	if code != exitFailure || !strings.Contains(stderr, msg) || strings.Count(stderr, "\n") != 1 {
		pe.t.Fatalf("exit %d, stderr %q; want exit %d and one line with %q", code, stderr, exitFailure, msg)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		pe.t.Fatalf("a failed receive left %d files in %s", len(entries), dir)
	}
}

func TestSendReceive(t *testing.T) {
	pe := newParcelEnv(t)
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"plain", nil},
		{"e2e", []string{"--e2e"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pe.t = t
			lines := pe.send("", append(tc.flags, "--to", "dr@example.org", "--to", "gp@example.org", "--max-downloads", "1")...)
			if len(lines) != 2 || !strings.HasPrefix(lines[0], "dr@example.org https://") {
				t.Fatalf("links: %q", lines)
			}
			if got := strings.Contains(lines[0], "#e1."); got != (tc.name == "e2e") {
				t.Fatalf("link %q: key fragment present %v", lines[0], got)
			}
			dr, gp := strings.Fields(lines[0])[1], strings.Fields(lines[1])[1]
			dir, code, errOut := pe.receive("", dr)
			if code != 0 {
				t.Fatalf("receive: exit %d: %s", code, errOut)
			}
			pe.wantFiles(dir)
			// Exhausted: one download per file was allowed.
			dir, code, errOut = pe.receive("", dr)
			pe.wantFailure(dir, code, errOut, "as often as the sender allowed")
			// The other recipient is unaffected until revoked.
			id := parcelOf(t, pe, gp)
			resp, body := pe.e.Do(t, testenv.Request{Method: "DELETE", Path: "/api/v1/parcels/" + id.parcel + "/recipients/" + id.recipient, Token: pe.token})
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("revoke: %d %s", resp.StatusCode, body)
			}
			dir, code, errOut = pe.receive("", gp)
			pe.wantFailure(dir, code, errOut, "revoked")
		})
	}
}

// ids of a link: its parcel and recipient, from the owner's list.
type linkIDs struct{ parcel, recipient string }

func parcelOf(t *testing.T, pe *parcelEnv, link string) linkIDs {
	t.Helper()
	resp, body := pe.e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/parcels?limit=1", Token: pe.token})
	var list struct {
		Parcels []struct {
			ID string `json:"id"`
		} `json:"parcels"`
	}
	if resp.StatusCode != http.StatusOK || jsonUnmarshal(body, &list) != nil || len(list.Parcels) != 1 {
		t.Fatalf("list: %d %s", resp.StatusCode, body)
	}
	resp, body = pe.e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/parcels/" + list.Parcels[0].ID, Token: pe.token})
	var p struct {
		Recipients []struct {
			ID    string `json:"id"`
			Email string `json:"email"`
		} `json:"recipients"`
	}
	if resp.StatusCode != http.StatusOK || jsonUnmarshal(body, &p) != nil || len(p.Recipients) != 2 {
		t.Fatalf("parcel: %d %s", resp.StatusCode, body)
	}
	return linkIDs{list.Parcels[0].ID, p.Recipients[1].ID}
}

func TestReceivePassphraseAndExpiry(t *testing.T) {
	pe := newParcelEnv(t)
	for _, e2eFlag := range [][]string{nil, {"--e2e"}} {
		lines := pe.send("correct horse battery\n", append(e2eFlag, "--passphrase-stdin", "--expires", "1h")...)
		link := lines[0]
		dir, code, errOut := pe.receive("", link)
		pe.wantFailure(dir, code, errOut, "needs a passphrase")
		dir, code, errOut = pe.receive("wrong horse battery\n", link, "--passphrase-stdin")
		pe.wantFailure(dir, code, errOut, "wrong passphrase")
		dir, code, errOut = pe.receive("correct horse battery\n", link, "--passphrase-stdin")
		if code != 0 {
			t.Fatalf("receive %v: exit %d: %s", e2eFlag, code, errOut)
		}
		pe.wantFiles(dir)
		if e2eFlag != nil {
			// Without the fragment the files cannot be read.
			dir, code, errOut = pe.receive("correct horse battery\n", strings.SplitN(link, "#", 2)[0], "--passphrase-stdin")
			pe.wantFailure(dir, code, errOut, "no key")
		}
	}
	lines := pe.send("")
	pe.offset.Store(int64(2 * time.Hour * 24 * 8))
	dir, code, errOut := pe.receive("", lines[0])
	pe.wantFailure(dir, code, errOut, "expired")
}

// TestReceiveRefusesTampering uploads, as a malicious sender or server would, a file
// whose sealed metadata is right but whose content is not: receive must refuse it and
// write nothing. The manifest check catches a dropped file.
func TestReceiveRefusesTampering(t *testing.T) {
	pe := newParcelEnv(t)
	secret := e2e.NewSecret()
	keys := e2e.NewKeys(secret, nil)
	plain := []byte("the real content")
	sum := sha256.Sum256(plain)
	make1 := func(content func(f *e2e.File) []byte, listed bool) string {
		resp, body := pe.e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels", Token: pe.token, JSON: map[string]any{"subject": "s", "e2e": true}})
		var p struct {
			ID    string `json:"id"`
			Links []struct {
				URL string `json:"url"`
			} `json:"links"`
		}
		if jsonUnmarshal(body, &p) != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("create: %s", body)
		}
		f, err := keys.NewFile("a.txt", int64(len(plain)), sum[:])
		if err != nil {
			t.Fatal(err)
		}
		resp, body = pe.e.Do(t, testenv.Request{Method: "PUT", Path: "/api/v1/parcels/" + p.ID + "/files/" + f.Sealed, Token: pe.token, Body: bytes.NewReader(content(f))})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %s", body)
		}
		m := e2e.Manifest{}
		if listed {
			m.Files = []string{f.Nonce}
		}
		sealed, _ := keys.SealManifest(m)
		resp, body = pe.e.Do(t, testenv.Request{Method: "POST", Path: "/api/v1/parcels/" + p.ID + "/send", Token: pe.token, JSON: map[string]string{"manifest": sealed}})
		if jsonUnmarshal(body, &p) != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("send: %s", body)
		}
		return p.Links[0].URL + "#" + secret.Fragment()
	}
	flipped := func(f *e2e.File) []byte {
		var b bytes.Buffer
		f.Encrypt(&b, bytes.NewReader(plain))
		out := b.Bytes()
		out[len(out)-20] ^= 1
		return out
	}
	good := func(f *e2e.File) []byte {
		var b bytes.Buffer
		f.Encrypt(&b, bytes.NewReader(plain))
		return b.Bytes()
	}
	dir, code, errOut := pe.receive("", make1(flipped, true))
	pe.wantFailure(dir, code, errOut, "failed authentication")
	dir, code, errOut = pe.receive("", make1(good, false))
	pe.wantFailure(dir, code, errOut, "manifest")
	dir, code, errOut = pe.receive("", make1(good, true))
	if code != 0 {
		t.Fatalf("the untampered parcel: exit %d: %s", code, errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a.txt")); !bytes.Equal(got, plain) {
		t.Fatalf("received %q", got)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
