package cluster_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// The lease times the nodes run with: short, so that the test sees them move.
const (
	jobLease    = 2 * time.Second
	uploadLease = 3 * time.Second
)

// TestCluster runs three nodes on one PostgreSQL database and one S3 bucket and shows
// that they act as one server: any node serves what another stored or started, a node
// killed with SIGKILL loses nothing that was acknowledged, its uploads resume and its
// periodic jobs move to another node, and the audit log stays one valid chain.
func TestCluster(t *testing.T) {
	w := newWorld(t, 3)
	n1, n2, n3 := w.nodes[0], w.nodes[1], w.nodes[2]
	alice := w.user(n1, "alice")
	acked := &ledger{files: map[string][32]byte{}}
	step := func(name string, fn func(t *testing.T)) {
		if !t.Run(name, fn) {
			for _, nd := range w.nodes {
				t.Logf("log of node %s:\n%s", nd.name, nd.log)
			}
			t.FailNow()
		}
	}

	step("upload via node 1, list and download via node 2, delete via node 3", func(t *testing.T) {
		data := random(t, 3<<20+123)
		w.put(n1, alice, "/a/report.bin", data, acked)
		w.put(n1, alice, "/a/gone.bin", random(t, 1000), nil)
		_, body := w.must(n2.https, http.StatusOK, req{method: "GET", path: "/api/v1/dirs/a", token: alice})
		if !bytes.Contains(body, []byte(`"report.bin"`)) || !bytes.Contains(body, []byte(`"gone.bin"`)) {
			t.Fatalf("node 2 lists %s", body)
		}
		w.get(n2, alice, "/a/report.bin", sha256.Sum256(data))
		w.must(n3.https, http.StatusNoContent, req{method: "DELETE", path: "/api/v1/files/a/gone.bin", token: alice})
		for _, nd := range w.nodes {
			w.must(nd.https, http.StatusNotFound, req{method: "GET", path: "/api/v1/files/a/gone.bin", token: alice})
		}
	})

	step("a web session made on node 1 works on nodes 2 and 3", func(t *testing.T) {
		form := url.Values{"user": {"alice"}, "password": {"password-of-alice-42"}, "next": {"/files/"}}
		hr, _ := http.NewRequest("POST", "https://"+n1.https+"/login", strings.NewReader(form.Encode()))
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := w.client.Transport.RoundTrip(hr) // no redirects: keep the answer's cookie
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var session *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Value != "" {
				session = c
			}
		}
		if resp.StatusCode != http.StatusSeeOther || session == nil {
			t.Fatalf("sign-in on node 1: status %d, cookies %v", resp.StatusCode, resp.Cookies())
		}
		_, page := w.must(n2.https, http.StatusOK, req{method: "GET", path: "/files/a/", cookie: session})
		if !bytes.Contains(page, []byte("report.bin")) {
			t.Fatalf("node 2's files page with node 1's session does not list alice's files:\n%.2000s", page)
		}
		_, me := w.must(n3.https, http.StatusOK, req{method: "GET", path: "/api/v1/me", cookie: session})
		if !bytes.Contains(me, []byte(`"alice"`)) {
			t.Fatalf("node 3's API with node 1's session: %s", me)
		}
	})

	step("SFTP: every node shows the same host key through the proxy", func(t *testing.T) {
		hk := &hostKeys{}
		for range len(w.nodes) {
			c, conn := w.sftpDial(t, w.sftpLB.Addr(), hk)
			c.Close()
			conn.Close()
		}
		if len(hk.seen) != 1 {
			t.Fatalf("the nodes show %d different host keys", len(hk.seen))
		}
	})

	step("SFTP: a client that dies mid-upload on node 1 resumes on node 2", func(t *testing.T) {
		data := random(t, 6<<20)
		hk := &hostKeys{}
		c1, conn1 := w.sftpDial(t, n1.sftp, hk)
		f, err := c1.Create("/a/big.bin")
		if err != nil {
			t.Fatal(err)
		}
		sent := 0
		for sent < 3<<20 {
			n, err := f.Write(data[sent : sent+256<<10])
			if err != nil {
				t.Fatal(err)
			}
			sent += n
		}
		conn1.Close() // the client dies: no close of the file, no goodbye
		c2, conn2 := w.sftpDial(t, n2.sftp, hk)
		defer conn2.Close()
		defer c2.Close()
		var kept int64
		eventually(t, 30*time.Second, func() string {
			fi, err := c2.Stat("/a/big.bin")
			if err != nil {
				return fmt.Sprintf("stat of the partial upload on node 2: %v", err)
			}
			if kept = fi.Size(); kept < int64(sent) {
				return fmt.Sprintf("node 2 sees %d bytes kept of %d acknowledged", kept, sent)
			}
			return ""
		})
		f2, err := c2.OpenFile("/a/big.bin", os.O_WRONLY)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f2.Seek(kept, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := f2.Write(data[kept:]); err != nil {
			t.Fatal(err)
		}
		if err := f2.Close(); err != nil {
			t.Fatal(err)
		}
		acked.add("/a/big.bin", data)
		w.get(n3, alice, "/a/big.bin", sha256.Sum256(data))
		t.Logf("resumed at byte %d of %d (%d acknowledged before the client died)", kept, len(data), sent)
	})

	step("concurrent writers on every node", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, nd := range w.nodes {
			for worker := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 5 {
						path := fmt.Sprintf("/c/%s-%d-%d.bin", nd.name, worker, i)
						w.put(nd, alice, path, random(t, 10_000+i*30_000), acked)
						if i%2 == 1 { // and replace one
							w.put(nd, alice, path, random(t, 5_000), acked)
						}
					}
				}()
			}
		}
		wg.Wait()
	})

	step("a tus upload started on node 1 resumes on node 2 after node 1 is killed", func(t *testing.T) {
		data := random(t, 8<<20)
		sum := sha256.Sum256(data)
		meta := "path " + base64.StdEncoding.EncodeToString([]byte("/a/tus.bin")) + ",sha256 " + base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:])))
		resp, _ := w.must(n1.https, http.StatusCreated, req{method: "POST", path: "/api/v1/uploads", token: alice,
			header: map[string]string{"Tus-Resumable": "1.0.0", "Upload-Length": strconv.Itoa(len(data)), "Upload-Metadata": meta}})
		loc := resp.Header.Get("Location")
		id := loc[strings.LastIndexByte(loc, '/')+1:]
		const first = 3 << 20
		resp, _ = w.must(n1.https, http.StatusNoContent, w.patch(loc, alice, 0, bytes.NewReader(data[:first])))
		if got := resp.Header.Get("Upload-Offset"); got != strconv.Itoa(first) {
			t.Fatalf("after the first piece: Upload-Offset %s", got)
		}
		// The second piece is under way on node 1 when it dies.
		pr, pw := io.Pipe()
		go func() {
			pw.Write(data[first : first+1<<20])
			// ...and the rest never comes: the node is killed meanwhile.
		}()
		patchDone := make(chan error, 1)
		go func() {
			_, _, err := w.do(n1.https, w.patch(loc, alice, first, pr))
			patchDone <- err
		}()
		eventually(t, 30*time.Second, func() string {
			u, err := w.db.Q().UploadByID(context.Background(), id)
			if err != nil || !u.LeaseUntil.After(time.Now()) {
				return fmt.Sprintf("node 1 has not started receiving the second piece (%v)", err)
			}
			return ""
		})
		w.kill(n1)
		killed := time.Now()
		pw.Close()
		if err := <-patchDone; err == nil {
			t.Log("the killed node's PATCH reported no error")
		}
		w.balance()
		resp, _ = w.must(n2.https, http.StatusOK, req{method: "HEAD", path: loc, token: alice, header: map[string]string{"Tus-Resumable": "1.0.0"}})
		off, _ := strconv.Atoi(resp.Header.Get("Upload-Offset"))
		if off < first {
			t.Fatalf("node 2 says the upload holds %d bytes, but %d were acknowledged", off, first)
		}
		var conflicts int
		took := eventually(t, uploadLease+30*time.Second, func() string {
			resp, body, err := w.do(n2.https, w.patch(loc, alice, off, bytes.NewReader(data[off:])))
			switch {
			case err != nil:
				return err.Error()
			case resp.StatusCode == http.StatusConflict: // node 1's lease has not lapsed yet
				conflicts++
				return "409: " + string(body)
			case resp.StatusCode != http.StatusNoContent:
				t.Fatalf("PATCH on node 2: %d %s", resp.StatusCode, body)
			}
			return ""
		})
		acked.add("/a/tus.bin", data)
		w.get(n3, alice, "/a/tus.bin", sum)
		t.Logf("resumed at byte %d on node 2, %s after the SIGKILL (%d answers 409 while node 1's upload lease of %s ran out)",
			off, time.Since(killed).Round(time.Millisecond), conflicts, uploadLease)
		if took > uploadLease+5*time.Second {
			t.Errorf("the upload could be resumed only %s after the kill; the lease is %s", took, uploadLease)
		}
		w.start(n1)
		w.balance()
	})

	step("periodic jobs move to a surviving node within their lease time", func(t *testing.T) {
		holderOf := func(job string) *node {
			l, err := w.db.Q().JobLease(context.Background(), job)
			if err != nil || !l.Until.After(time.Now()) {
				return nil
			}
			for _, nd := range w.alive() {
				if strings.HasPrefix(l.Holder, nd.name+"#") {
					return nd
				}
			}
			return nil
		}
		var victim *node
		eventually(t, 30*time.Second, func() string {
			if victim = holderOf("blobs.collect"); victim == nil {
				return "no live node holds the lease of blobs.collect"
			}
			return ""
		})
		w.kill(victim)
		w.balance()
		took := eventually(t, jobLease+30*time.Second, func() string {
			for _, job := range []string{"blobs.collect", "blobs.leftovers", "web-sessions.prune", "login-failures.prune"} {
				if h := holderOf(job); h == nil || h == victim {
					return job + " has not moved from " + victim.name
				}
			}
			return ""
		})
		t.Logf("the jobs of %s moved %s after its SIGKILL (lease %s)", victim.name, took.Round(time.Millisecond), jobLease)
		if took > jobLease+2*time.Second {
			t.Errorf("the jobs moved only %s after the kill; the lease is %s", took, jobLease)
		}
		w.start(victim)
		w.balance()
	})

	step("failover: requests through the proxy while a node is killed", func(t *testing.T) {
		victim := n2
		var mu sync.Mutex
		var killedAt, firstOK time.Time
		var failed, ok int
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, _, err := w.do(w.httpsLB.Addr(), req{method: "GET", path: "/api/v1/me", token: alice})
				mu.Lock()
				if err == nil && resp.StatusCode == http.StatusOK {
					ok++
					if !killedAt.IsZero() && firstOK.IsZero() && start.After(killedAt) {
						firstOK = time.Now()
					}
				} else {
					failed++
				}
				mu.Unlock()
			}
		}()
		eventually(t, 30*time.Second, func() string {
			mu.Lock()
			defer mu.Unlock()
			if ok < 20 {
				return "the requests through the proxy do not succeed"
			}
			return ""
		})
		mu.Lock()
		killedAt = time.Now()
		mu.Unlock()
		w.kill(victim) // the proxy keeps it as a backend: its dials fail and go to the next
		eventually(t, 30*time.Second, func() string {
			mu.Lock()
			defer mu.Unlock()
			if firstOK.IsZero() {
				return "no request through the proxy succeeded after the kill"
			}
			return ""
		})
		close(stop)
		<-done
		t.Logf("failover: the next successful request through the proxy %s after the SIGKILL (%d requests failed, %d succeeded)",
			firstOK.Sub(killedAt).Round(time.Microsecond), failed, ok)
		w.start(victim)
		w.balance()
		for _, nd := range w.nodes {
			if strings.Contains(nd.log.String(), "remote="+proxyFrom) {
				t.Errorf("node %s logged a request from the proxy's address, not the client's", nd.name)
			}
			if strings.Contains(nd.log.String(), "presents a different") {
				t.Errorf("node %s warned that the nodes do not share their certificate or host keys", nd.name)
			}
		}
	})

	step("nothing acknowledged is lost, and the audit log is one valid chain", func(t *testing.T) {
		acked.mu.Lock()
		defer acked.mu.Unlock()
		for path, sum := range acked.files {
			w.get(&node{https: w.httpsLB.Addr()}, alice, path, sum)
		}
		out, err := w.coffer("audit", "verify")
		if err != nil || !strings.Contains(out, "audit log intact") {
			t.Fatalf("coffer audit verify: %v\n%s", err, out)
		}
		t.Logf("%d files checked; %s", len(acked.files), strings.TrimSpace(out))
	})
}

// ledger is what the servers acknowledged: path -> SHA-256 of the newest content.
type ledger struct {
	mu    sync.Mutex
	files map[string][32]byte
}

func (l *ledger) add(path string, data []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.files[path] = sha256.Sum256(data)
}

func random(t testing.TB, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// put uploads data to path through nd and records it in acked (when not nil) once the
// server acknowledged it.
func (w *world) put(nd *node, token, path string, data []byte, acked *ledger) {
	w.t.Helper()
	sum := sha256.Sum256(data)
	w.must(nd.https, http.StatusCreated, req{method: "PUT", path: "/api/v1/files" + path, token: token, body: bytes.NewReader(data),
		header: map[string]string{"Repr-Digest": "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"}})
	if acked != nil {
		acked.add(path, data)
	}
}

// get downloads path through nd and checks its digest.
func (w *world) get(nd *node, token, path string, want [32]byte) {
	w.t.Helper()
	_, body := w.must(nd.https, http.StatusOK, req{method: "GET", path: "/api/v1/files" + path, token: token})
	if sha256.Sum256(body) != want {
		w.t.Fatalf("%s read through %s does not have the content that was acknowledged (%d bytes)", path, nd.https, len(body))
	}
}

func (w *world) patch(loc, token string, offset int, body io.Reader) req {
	return req{method: "PATCH", path: loc, token: token, body: body, header: map[string]string{
		"Tus-Resumable": "1.0.0", "Upload-Offset": strconv.Itoa(offset), "Content-Type": "application/offset+octet-stream"}}
}

// hostKeys records the host keys that SFTP connections saw.
type hostKeys struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (h *hostKeys) check(_ string, _ net.Addr, key ssh.PublicKey) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]bool{}
	}
	h.seen[ssh.FingerprintSHA256(key)] = true
	return nil
}

// sftpDial signs alice in over SFTP at addr and returns the client and its raw connection.
func (w *world) sftpDial(t *testing.T, addr string, hk *hostKeys) (*sftp.Client, net.Conn) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.Password("password-of-alice-42")},
		HostKeyCallback: hk.check, Timeout: 30 * time.Second}
	sc, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		t.Fatalf("SSH to %s: %v", addr, err)
	}
	c, err := sftp.NewClient(ssh.NewClient(sc, chans, reqs))
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	return c, conn
}
