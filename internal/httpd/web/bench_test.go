package web_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/css"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// benchRounds is how many times each side of a comparison runs (COFFER_BENCH_ROUNDS,
// default 3); the benchmarks report medians.
func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("COFFER_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// browserAs is Chromium signed in as user, on the files page.
func browserAs(b *testing.B, e *testenv.Env, user string) context.Context {
	ctx := browser(b, time.Hour)
	if err := chromedp.Do(ctx,
		chromedp.Navigate(e.URL+"/files/"),
		chromedp.SendKeys(chromedp.CSS(`input[name=user]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "password-of-"+user),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#listing`)),
	); err != nil {
		b.Fatal(err)
	}
	return ctx
}

// BenchmarkWebUpload compares, in one run, the web page's resumable (tus) upload of a
// file in Chromium with curl's REST PUT of the same file to the same server, on
// loopback. COFFER_BENCH_SIZE sets the size in MiB (default 1024). Run it with
// bench/web.sh, or: go test -run '^$' -bench WebUpload -benchtime 1x ./internal/httpd/web
func BenchmarkWebUpload(b *testing.B) {
	if _, err := exec.LookPath("curl"); err != nil {
		b.Skip("no curl")
	}
	mib := int64(1024)
	if n, err := strconv.ParseInt(os.Getenv("COFFER_BENCH_SIZE"), 10, 64); err == nil && n > 0 {
		mib = n
	}
	e := testenv.New(b, testenv.Options{})
	token := e.User(b, "tech", 0)
	u, err := e.Core.DB.Q().UserByName(context.Background(), "tech")
	if err != nil {
		b.Fatal(err)
	}
	p := auth.Principal{UserID: u.ID, Name: u.Name}
	local := filepath.Join(b.TempDir(), "scan.bin")
	f, err := os.Create(local)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, mib<<20); err != nil {
		b.Fatal(err)
	}
	f.Close()
	size := float64(mib << 20)
	ctx := browserAs(b, e, "tech")

	var rest, tus, web, webCPU, srvCPU, restCPU []float64
	for i := 0; i < benchRounds(); i++ {
		srv0 := processCPU()
		start := time.Now()
		out, err := exec.Command("curl", "-sk", "--fail-with-body", "-o", "/dev/null", "-H", "Authorization: Bearer "+token,
			"-T", local, e.URL+"/api/v1/files/rest.bin").CombinedOutput()
		if err != nil {
			b.Fatalf("curl PUT: %v %s", err, out)
		}
		rest = append(rest, size/time.Since(start).Seconds()/1e6)
		restCPU = append(restCPU, (processCPU()-srv0).Seconds()/(size/(1<<30)))

		// The same tus requests as the page's, from curl: tells the server's share from
		// the browser's.
		start = time.Now()
		out, err = exec.Command("curl", "-sk", "--fail-with-body", "-o", "/dev/null", "-D", "-", "-X", "POST",
			"-H", "Authorization: Bearer "+token, "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Length: "+strconv.FormatInt(mib<<20, 10),
			"-H", "Upload-Metadata: path L3R1cy5iaW4=", e.URL+"/api/v1/uploads").CombinedOutput() // path /tus.bin
		loc := ""
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Location") {
				loc = strings.TrimSpace(v)
			}
		}
		if err != nil || loc == "" {
			b.Fatalf("tus create: %v %s", err, out)
		}
		out, err = exec.Command("curl", "-sk", "--fail-with-body", "-o", "/dev/null", "-X", "PATCH", "-H", "Authorization: Bearer "+token,
			"-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0", "-H", "Content-Type: application/offset+octet-stream",
			"-T", local, e.URL+loc).CombinedOutput()
		if err != nil {
			b.Fatalf("tus PATCH: %v %s", err, out)
		}
		tus = append(tus, size/time.Since(start).Seconds()/1e6)

		start = time.Now()
		srv0, chrome0 := processCPU(), chromiumCPU()
		// While the upload runs, the DevTools domains that chromedp enables (network, DOM,
		// CSS) are off: they would report every progress-bar update and request to this
		// test, work that a person's browser does not do. A Runtime poll sees the end.
		if err := chromedp.Do(ctx,
			chromedp.SetUploadFiles(chromedp.CSS(`input[type=file][data-upload]:not([webkitdirectory])`), []string{local}),
			devtools(false),
		); err != nil {
			b.Fatalf("browser upload: %v", err)
		}
		// The page reloads when the upload is done, which ends a pending evaluation: ask
		// again, every 50 ms, until the new file is listed.
		for tick := time.NewTicker(50 * time.Millisecond); ; <-tick.C {
			if done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('tr[data-name="scan.bin"]') !== null`)); err == nil && done {
				tick.Stop()
				break
			}
			if time.Since(start) > 10*time.Minute {
				b.Fatal("the browser upload did not finish in 10 minutes")
			}
		}
		if err := chromedp.Do(ctx, devtools(true)); err != nil {
			b.Fatal(err)
		}
		web = append(web, size/time.Since(start).Seconds()/1e6)
		gib := size / (1 << 30)
		webCPU = append(webCPU, (chromiumCPU()-chrome0).Seconds()/gib)
		srvCPU = append(srvCPU, (processCPU()-srv0).Seconds()/gib)
		for _, name := range []string{"/rest.bin", "/tus.bin", "/scan.bin"} {
			if err := e.Core.Files.Delete(context.Background(), p, name, false); err != nil {
				b.Fatal(err)
			}
		}
		if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`td.empty`))); err != nil {
			b.Fatal(err)
		}
	}
	// The browser's own ceiling on this machine: the same file uploaded by XMLHttpRequest
	// from a page to a server that only discards the body.
	sink := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			io.Copy(io.Discard, r.Body)
			return
		}
		fmt.Fprint(w, `<!doctype html><input type="file" id="f"><script>document.getElementById("f").onchange = (e) => {
  const x = new XMLHttpRequest(); x.open("PUT", "/sink"); x.onload = () => { document.title = "done"; }; x.send(e.target.files[0]); };</script>`)
	}))
	defer sink.Close()
	var ceiling []float64
	for range benchRounds() {
		if err := chromedp.Do(ctx, chromedp.Navigate(sink.URL)); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`#f`), []string{local})); err != nil {
			b.Fatal(err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.title === "done"`)); err != nil {
			b.Fatalf("upload to the sink: %v", err)
		}
		ceiling = append(ceiling, size/time.Since(start).Seconds()/1e6)
	}
	b.ReportMetric(median(ceiling), "browser-to-sink-MB/s")
	fmt.Fprintf(os.Stderr, "the same browser to a server that discards the body: %v MB/s (Coffer's tus reaches %.0f%% of that)\n",
		rounded(ceiling), 100*median(web)/median(ceiling))
	b.ReportMetric(median(rest), "rest-MB/s")
	b.ReportMetric(median(web), "browser-MB/s")
	b.ReportMetric(median(tus), "curl-tus-MB/s")
	b.ReportMetric(median(web)/median(rest), "ratio")
	fmt.Fprintf(os.Stderr, "upload of %d MiB, %d rounds: REST PUT (curl) %v MB/s, tus (curl) %v MB/s, browser tus %v MB/s; median ratio browser/PUT %.2f\n",
		mib, len(rest), rounded(rest), rounded(tus), rounded(web), median(web)/median(rest))
	fmt.Fprintf(os.Stderr, "CPU seconds per GiB: server during the PUT %.1f; during the browser upload server %.1f, Chromium (all its processes) %.1f\n",
		median(restCPU), median(srvCPU), median(webCPU))
}

// devtools turns the DevTools domains that chromedp enables on or off.
func devtools(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		var err error
		if on {
			_, err = chromedp.Call(ctx, network.Enable, network.EnableParams{})
			if err == nil {
				_, err = chromedp.Call(ctx, dom.Enable, dom.EnableParams{})
			}
			if err == nil {
				_, err = chromedp.Call(ctx, css.Enable, cdp.Empty{})
			}
			return err
		}
		_, err = chromedp.Call(ctx, css.Disable, cdp.Empty{})
		if err == nil {
			_, err = chromedp.Call(ctx, dom.Disable, cdp.Empty{})
		}
		if err == nil {
			_, err = chromedp.Call(ctx, network.Disable, cdp.Empty{})
		}
		return err
	})
}

// processCPU is the CPU time of this process (the server, and the test driving it).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// chromiumCPU is the CPU time of the running Chromium processes, from /proc (Linux).
func chromiumCPU() time.Duration {
	var ticks int64
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ... utime(14) stime(15): comm may hold spaces, so count
		// fields after its closing parenthesis.
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 || !strings.Contains(strings.ToLower(string(b[:i])), "chrom") {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + s
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}

func rounded(v []float64) []string {
	out := make([]string, len(v))
	for i, x := range v {
		out[i] = strconv.FormatFloat(x, 'f', 0, 64)
	}
	return out
}

// BenchmarkWebListing10k measures how long Chromium takes to load and render the page of
// a folder that holds 10,000 files (navigation start to the load event), median of
// COFFER_BENCH_ROUNDS*3 loads.
func BenchmarkWebListing10k(b *testing.B) {
	e := testenv.New(b, testenv.Options{})
	e.User(b, "tech", 0)
	u, err := e.Core.DB.Q().UserByName(context.Background(), "tech")
	if err != nil {
		b.Fatal(err)
	}
	p := auth.Principal{UserID: u.ID, Name: u.Name}
	ctx0 := context.Background()
	if _, err := e.Core.Files.Mkdir(ctx0, p, "/big", false); err != nil {
		b.Fatal(err)
	}
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("COFFER_BENCH_FILES")); err == nil && v > 0 {
		n = v // quicker, for trying changes: the page shows 250 entries either way
	}
	start := time.Now()
	for i := range n {
		name := fmt.Sprintf("/big/sample-%05d.csv", i)
		if _, err := e.Core.Files.Create(ctx0, p, name, strings.NewReader("x"), files.CreateOptions{Size: 1}); err != nil {
			b.Fatal(err)
		}
	}
	fmt.Fprintf(os.Stderr, "created %d files in %v\n", n, time.Since(start).Round(time.Millisecond))
	ctx := browserAs(b, e, "tech")
	var loads, ttfb []float64
	for range benchRounds() * 3 {
		if err := chromedp.Do(ctx,
			chromedp.Navigate(e.URL+"/files/big/"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-name="sample-00000.csv"]`)),
		); err != nil {
			b.Fatal(err)
		}
		ms, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](`(() => { const n = performance.getEntriesByType("navigation")[0]; return [n.loadEventEnd > 0 ? n.loadEventEnd - n.startTime : performance.now(), n.responseStart - n.requestStart]; })()`))
		if err != nil {
			b.Fatal(err)
		}
		loads, ttfb = append(loads, ms[0]), append(ttfb, ms[1])
	}
	b.ReportMetric(median(loads), "ms/page")
	b.ReportMetric(median(ttfb), "ms-server")
	fmt.Fprintf(os.Stderr, "page of a %d-file folder: %v ms per load (median %.0f), of which the server's answer %v ms (median %.0f)\n",
		n, rounded(loads), median(loads), rounded(ttfb), median(ttfb))
}
