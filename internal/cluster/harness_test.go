package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/blob/s3/s3test"
	"github.com/coffer-mft/coffer/internal/cluster"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/testenv/syncbuf"
)

const adminPassword = "cluster-admin-password-42"

// proxyFrom is the address the proxies connect to the nodes from (any 127.0.0.0/8
// address is loopback on Linux), which the nodes trust to send PROXY headers: so the
// test reaches the nodes both directly, from 127.0.0.1, and through the proxies.
const proxyFrom = "127.0.0.2"

// world is a cluster: one PostgreSQL database, one S3 bucket, coffer serve nodes (real
// processes of the binary) and round-robin proxies for HTTPS and SFTP in front of them.
type world struct {
	t       *testing.T
	bin     string
	dsn     string
	blobs   string
	env     []string // the nodes' environment: key, admin password, S3 credentials
	certPEM []byte
	shared  string // the shared configuration: TLS certificate and key, SSH host keys
	db      *db.DB // for looking behind the nodes' backs

	nodes    []*node
	httpsLB  *cluster.Proxy
	sftpLB   *cluster.Proxy
	client   *http.Client
	adminTok string
}

// node is one coffer serve process.
type node struct {
	name   string
	dir    string
	cmd    *exec.Cmd
	https  string // host:port
	sftp   string
	log    *syncbuf.Buffer
	exited chan struct{}
}

// newWorld builds the binary, makes the database and the bucket, and starts n nodes
// behind the proxies. It skips without PostgreSQL or S3, unless CI requires them.
func newWorld(t *testing.T, n int) *world {
	t.Helper()
	dsn := dbtest.PostgresDSN(t)
	sv := s3test.Env(t)
	bucket := sv.Bucket(t)
	w := &world{t: t, dsn: dsn, shared: t.TempDir(),
		blobs: "s3://" + bucket + "/coffer?endpoint=" + url.QueryEscape(sv.Endpoint) + "&path-style=true"}
	w.bin = buildCoffer(t)
	keys, err := crypt.NewKeyring()
	if err != nil {
		t.Fatal(err)
	}
	w.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"COFFER_KEK=" + string(keys.Marshal()), "COFFER_ADMIN_PASSWORD=" + adminPassword,
		"AWS_ACCESS_KEY_ID=" + sv.AccessKey, "AWS_SECRET_ACCESS_KEY=" + sv.SecretKey}
	w.certPEM = selfSigned(t, w.shared)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(w.certPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	w.client = &http.Client{Transport: tr, Timeout: 2 * time.Minute}

	// The first node sets the database up and makes the shared SSH host keys; the
	// others start together once it runs.
	for i := range n {
		w.nodes = append(w.nodes, &node{name: fmt.Sprintf("n%d", i+1), dir: t.TempDir()})
	}
	w.start(w.nodes[0])
	var wg sync.WaitGroup
	for _, nd := range w.nodes[1:] {
		wg.Add(1)
		go func() { defer wg.Done(); w.start(nd) }()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if w.db, err = db.Open(context.Background(), dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.db.Close() })

	if w.httpsLB, err = cluster.NewProxy("127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	if w.sftpLB, err = cluster.NewProxy("127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*cluster.Proxy{w.httpsLB, w.sftpLB} {
		p.From, p.ProxyHeader = net.ParseIP(proxyFrom), true
		go p.Serve()
		t.Cleanup(func() { p.Close() })
	}
	w.balance()
	w.adminTok = w.token(w.nodes[0], "admin", adminPassword)
	return w
}

// buildCoffer builds the coffer binary into a temporary directory (with the race
// detector when the test has it).
func buildCoffer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "coffer")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"build", "-o", bin}
	if raceBuild {
		args = append(args, "-race")
	}
	out, err := exec.CommandContext(ctx, "go", append(args, "github.com/coffer-mft/coffer/cmd/coffer")...).CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// selfSigned writes a certificate for 127.0.0.1 that every node serves, and returns it.
func selfSigned(t *testing.T, dir string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coffer cluster test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPEM
}

var listening = regexp.MustCompile(`listening on ([0-9.]+:[0-9]+)\)`)

// start runs nd's process (again, after a kill) and waits until it listens.
func (w *world) start(nd *node) {
	t := w.t
	nd.cmd = exec.Command(w.bin, "serve", "--data", nd.dir, "--db", w.dsn, "--blobs", w.blobs,
		"--http", "127.0.0.1:0", "--sftp", "127.0.0.1:0", "--node", nd.name,
		"--tls-cert", filepath.Join(w.shared, "cert.pem"), "--tls-key", filepath.Join(w.shared, "key.pem"),
		"--sftp-host-keys", filepath.Join(w.shared, "ssh"),
		"--proxy-protocol", proxyFrom, "--job-lease", jobLease.String(), "--upload-lease", uploadLease.String(), "--shutdown-timeout", "5s",
		"--allow-root") // CI containers run tests as root
	nd.cmd.Env = w.env
	nd.log = &syncbuf.Buffer{}
	nd.cmd.Stderr = nd.log
	stdout, err := nd.cmd.StdoutPipe()
	if err != nil {
		t.Error(err)
		return
	}
	if err := nd.cmd.Start(); err != nil {
		t.Error(err)
		return
	}
	nd.exited = make(chan struct{})
	cmd, exited := nd.cmd, nd.exited
	addrs := make(chan []string, 1)
	go func() {
		var found []string
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				if found = append(found, m[1]); len(found) == 2 {
					addrs <- found
				}
			}
		}
		close(addrs)
		cmd.Wait()
		close(exited)
	}()
	log := nd.log
	t.Cleanup(func() {
		nd.stop(cmd, exited)
		if strings.Contains(log.String(), "WARNING: DATA RACE") {
			t.Errorf("node %s had a data race:\n%s", nd.name, log)
		}
	})
	select {
	case a, ok := <-addrs:
		if !ok {
			t.Errorf("node %s exited before listening:\n%s", nd.name, nd.log)
			return
		}
		nd.https, nd.sftp = a[0], a[1]
	case <-time.After(time.Minute):
		t.Errorf("node %s does not listen after a minute:\n%s", nd.name, nd.log)
	}
}

// stop ends a node's process gracefully at the end of the test.
func (nd *node) stop(cmd *exec.Cmd, exited chan struct{}) {
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// kill ends nd with SIGKILL, as a crash or a power cut would.
func (w *world) kill(nd *node) {
	w.t.Helper()
	if err := nd.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		w.t.Fatal(err)
	}
	<-nd.exited
}

// alive is the nodes whose process runs.
func (w *world) alive() []*node {
	var out []*node
	for _, nd := range w.nodes {
		select {
		case <-nd.exited:
		default:
			out = append(out, nd)
		}
	}
	return out
}

// balance points the proxies at the live nodes, as a load balancer's health checks do.
func (w *world) balance() {
	var https, sftp []string
	for _, nd := range w.alive() {
		https, sftp = append(https, nd.https), append(sftp, nd.sftp)
	}
	w.httpsLB.SetBackends(https)
	w.sftpLB.SetBackends(sftp)
}

// req is one HTTP request.
type req struct {
	method, path, token string
	body                io.Reader
	header              map[string]string
	cookie              *http.Cookie
}

// do sends r to host (a node's or the proxy's address) and returns the response with
// its body read, or the transport error.
func (w *world) do(host string, r req) (*http.Response, []byte, error) {
	hr, err := http.NewRequest(r.method, "https://"+host+r.path, r.body)
	if err != nil {
		return nil, nil, err
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.cookie != nil {
		hr.AddCookie(r.cookie)
	}
	resp, err := w.client.Do(hr)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// must is do that fails the test unless the status is want.
func (w *world) must(host string, want int, r req) (*http.Response, []byte) {
	w.t.Helper()
	resp, b, err := w.do(host, r)
	if err != nil {
		w.t.Fatalf("%s %s on %s: %v", r.method, r.path, host, err)
	}
	if resp.StatusCode != want {
		w.t.Fatalf("%s %s on %s: status %d, want %d: %.300s", r.method, r.path, host, resp.StatusCode, want, b)
	}
	return resp, b
}

// token signs name in with a password on nd and returns an API token.
func (w *world) token(nd *node, name, password string) string {
	w.t.Helper()
	hr, _ := http.NewRequest("POST", "https://"+nd.https+"/api/v1/tokens", strings.NewReader(`{"name":"cluster test"}`))
	hr.SetBasicAuth(name, password)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(hr)
	if err != nil {
		w.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		w.t.Fatalf("token for %s on %s: status %d, %v", name, nd.name, resp.StatusCode, err)
	}
	return out.Token
}

// user creates a user (through nd) and returns a token of theirs.
func (w *world) user(nd *node, name string) string {
	w.t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "password": "password-of-" + name + "-42"})
	w.must(nd.https, http.StatusCreated, req{method: "POST", path: "/api/v1/admin/users", token: w.adminTok,
		body: bytes.NewReader(body), header: map[string]string{"Content-Type": "application/json"}})
	return w.token(nd, name, "password-of-"+name+"-42")
}

// coffer runs a command of the binary against the cluster's database and bucket.
func (w *world) coffer(args ...string) (string, error) {
	args = append(args, "--data", w.t.TempDir(), "--db", w.dsn, "--blobs", w.blobs)
	cmd := exec.Command(w.bin, args...)
	cmd.Env = w.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// eventually polls cond every few milliseconds until it returns "" or d passes, and
// returns how long it took.
func eventually(t *testing.T, d time.Duration, cond func() string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		msg := cond()
		if msg == "" {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("after %s: %s", d, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
