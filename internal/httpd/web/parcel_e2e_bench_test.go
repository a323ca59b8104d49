package web_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/performance"
	"github.com/chromedp/chromedp"

	"github.com/coffer-mft/coffer/internal/parcel/e2e"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// BenchmarkParcelE2EBrowser measures the browser's end-to-end parcel library on files of
// COFFER_BENCH_SIZES MiB (comma-separated, default "100,500"), COFFER_BENCH_ROUNDS times
// each (medians): hashing and encrypting alone; the whole upload (hash, encrypt into a
// staged file, PUT); and the download decrypted into a service-worker download to disk
// and into a file handle. For each it reports the peak JS heap of the page (DevTools
// Performance.getMetrics) and the peak resident memory of Chromium's processes, sampled
// every 100 ms, so that a memory that grew with the file's size would show. In the same
// run, as peers: the browser fetching the sealed file without decrypting it, and the Go
// package (what the command line does) sealing and opening the same file. Without
// COFFER_BENCH_ALL=1 it skips the slower extras (hash+encrypt alone, and the download
// into a file handle). Run:
//
//	go test -run '^$' -bench ParcelE2EBrowser -benchtime 1x ./internal/httpd/web
func BenchmarkParcelE2EBrowser(b *testing.B) {
	sizes := []int64{100, 500}
	if v := os.Getenv("COFFER_BENCH_SIZES"); v != "" {
		sizes = nil
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil || n <= 0 {
				b.Fatalf("COFFER_BENCH_SIZES: %q", v)
			}
			sizes = append(sizes, n)
		}
	}
	e := testenv.New(b, testenv.Options{})
	token := e.User(b, "tech", 0)
	ctx := browser(b, time.Hour)
	h := newHarness(b, e, ctx)
	if _, err := chromedp.Call(ctx, performance.Enable, performance.EnableParams{}); err != nil {
		b.Fatal(err)
	}
	type row struct{ mbs, heap, rss, proc, renderer []float64 }
	for _, mib := range sizes {
		local := filepath.Join(b.TempDir(), "bench.bin")
		f, err := os.Create(local)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, mib<<20); err != nil {
			b.Fatal(err)
		}
		f.Close()
		want := fileSum(b, local)
		if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`#pick`), []string{local})); err != nil {
			b.Fatal(err)
		}
		size := float64(mib << 20)
		rows := map[string]*row{}
		order := []string{"hash+encrypt (no I/O)", "upload (hash, encrypt, stage, PUT)", "download to service worker", "download to file handle",
			"peer: browser fetch, no decryption", "peer: Go e2e hash+encrypt", "peer: Go e2e decrypt"}
		for _, k := range order {
			rows[k] = &row{}
		}
		measure := func(name string, op func() float64) {
			if name != order[1] && name != order[2] && name != order[4] && !strings.HasPrefix(name, "peer: Go") && os.Getenv("COFFER_BENCH_ALL") == "" {
				return
			}
			stop := sampleMemory(b, h)
			ms := op()
			heap, rss, proc, renderer := stop()
			r := rows[name]
			r.mbs = append(r.mbs, size/ms/1e3)
			r.heap, r.rss, r.proc, r.renderer = append(r.heap, heap), append(r.rss, rss), append(r.proc, proc), append(r.renderer, renderer)
		}
		for range benchRounds() {
			measure(order[0], func() float64 {
				v := call[struct{ Hash, Encrypt float64 }](b, h, "benchEncrypt", nil)
				return v.Hash + v.Encrypt
			})
			var sent struct {
				Token, Fragment string
				MS              float64
			}
			measure(order[1], func() float64 {
				sent = call[struct {
					Token, Fragment string
					MS              float64
				}](b, h, "benchSend", map[string]any{"token": token})
				return sent.MS
			})
			measure(order[2], func() float64 {
				ms := call[float64](b, h, "benchReceive", map[string]any{"token": sent.Token, "fragment": sent.Fragment, "sink": "sw"})
				if d := h.download(b); d.State != "completed" {
					b.Fatalf("the download ended %s", d.State)
				}
				return ms
			})
			saved := filepath.Join(h.downloads, "bench.bin")
			if got := fileSum(b, saved); got != want {
				b.Fatalf("the downloaded file's SHA-256 is %s, want %s", got, want)
			}
			os.Remove(saved)
			measure(order[3], func() float64 {
				return call[float64](b, h, "benchReceive", map[string]any{"token": sent.Token, "fragment": sent.Fragment, "sink": "opfs-nohash"})
			})
			call[bool](b, h, "clearOPFS", nil)
			measure(order[4], func() float64 {
				return call[float64](b, h, "benchFetch", map[string]any{"token": sent.Token})
			})
			sealed := filepath.Join(b.TempDir(), "sealed")
			measure(order[5], func() float64 { return goEncrypt(b, local, sealed) })
			measure(order[6], func() float64 { return goDecrypt(b, sealed) })
		}
		for _, k := range order {
			r := rows[k]
			if len(r.mbs) == 0 {
				continue
			}
			fmt.Fprintf(os.Stderr, "%d MiB %-36s %v MB/s (median %.0f); peak JS heap %.0f MiB; peak RSS of Chromium's processes %.0f MiB (largest process %.0f MiB, largest renderer %.0f MiB)\n",
				mib, k, rounded(r.mbs), median(r.mbs), median(r.heap), median(r.rss), median(r.proc), median(r.renderer))
			b.ReportMetric(median(r.mbs), fmt.Sprintf("%dMiB-%s-MB/s", mib, strings.NewReplacer(" ", "-", ":", "", ",", "", "(", "", ")", "").Replace(k)))
		}
	}
}

// goKeys are the keys of the Go peer.
var goKeys = e2e.NewKeys(e2e.Secret{1}, nil)

// goEncrypt is what `coffer send --e2e` does to a file (hash it, seal it), into dst; it
// returns the milliseconds it took.
func goEncrypt(t testing.TB, src, dst string) float64 {
	start := time.Now()
	sum, err := hex.DecodeString(fileSum(t, src))
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st, _ := in.Stat()
	f, err := goKeys.NewFile("bench.bin", st.Size(), sum)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(out, 1<<20)
	if err := f.Encrypt(w, bufio.NewReaderSize(in, 1<<20)); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	out.Close()
	os.WriteFile(dst+".meta", []byte(f.Sealed), 0o600)
	return float64(time.Since(start).Microseconds()) / 1e3
}

// goDecrypt is what `coffer receive` does with a sealed file, writing to nowhere.
func goDecrypt(t testing.TB, src string) float64 {
	meta, err := os.ReadFile(src + ".meta")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	m, err := goKeys.OpenMeta(string(meta))
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := goKeys.Decrypt(io.Discard, bufio.NewReaderSize(in, 1<<20), m); err != nil {
		t.Fatal(err)
	}
	return float64(time.Since(start).Microseconds()) / 1e3
}

func fileSum(t testing.TB, path string) string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := sha256.New()
	if _, err := io.Copy(s, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(s.Sum(nil))
}

// sampleMemory samples, every 100 ms until the returned stop is called, the page's JS
// heap and the resident memory of this process's Chromium descendants; stop returns the
// peaks in MiB: JS heap, the sum over the processes, the largest single process.
func sampleMemory(t testing.TB, h *harness) (stop func() (heap, rss, proc, renderer float64)) {
	var mu sync.Mutex
	var peakHeap, peakRSS, peakProc, peakRenderer float64
	done := make(chan struct{})
	finished := make(chan struct{})
	sample := func() {
		if m, err := chromedp.Call(h.ctx, performance.GetMetrics, cdp.Empty{}); err == nil {
			for _, x := range m.Metrics {
				if x.Name == "JSHeapUsedSize" {
					mu.Lock()
					peakHeap = max(peakHeap, x.Value/(1<<20))
					mu.Unlock()
				}
			}
		}
		sum, big, renderer := chromiumRSS()
		mu.Lock()
		peakRSS, peakProc, peakRenderer = max(peakRSS, sum), max(peakProc, big), max(peakRenderer, renderer)
		mu.Unlock()
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() (float64, float64, float64, float64) {
		close(done)
		<-finished
		sample()
		return peakHeap, peakRSS, peakProc, peakRenderer
	}
}

// chromiumRSS sums the resident memory (MiB) of the processes descending from this one
// (the Chromium that the test started, not other browsers on the machine), and returns
// the largest one and the largest renderer (the process of the page and its JavaScript,
// --type=renderer) too. Linux only.
func chromiumRSS() (sum, largest, renderer float64) {
	parent := map[int]int{}
	rss := map[int]float64{}
	procs, _ := filepath.Glob("/proc/[0-9]*/status")
	for _, p := range procs {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			fs := strings.Fields(v)
			if len(fs) == 0 {
				continue
			}
			switch k {
			case "PPid":
				parent[pid], _ = strconv.Atoi(fs[0])
			case "VmRSS":
				kb, _ := strconv.ParseFloat(fs[0], 64)
				rss[pid] = kb / 1024
			}
		}
		f.Close()
	}
	self := os.Getpid()
	for pid, r := range rss {
		for p, hops := parent[pid], 0; p != 0 && hops < 50; p, hops = parent[p], hops+1 {
			if p == self {
				sum += r
				largest = max(largest, r)
				if cmd, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil && bytes.Contains(cmd, []byte("--type=renderer")) {
					renderer = max(renderer, r)
				}
				break
			}
		}
	}
	return sum, largest, renderer
}
