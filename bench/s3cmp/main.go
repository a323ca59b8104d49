// Command s3cmp moves one file through Coffer servers and directly to the S3 server
// behind one of them with minio-go (at its defaults), and prints the throughputs and
// their ratios, all measured in one run (medians of -runs): the "1 GiB through Coffer
// on S3 vs the S3 server directly vs Coffer on local disk" benchmark of bench/cluster.sh.
//
//	s3cmp -file F -s3 http://127.0.0.1:P -bucket B -coffer-s3 https://HOST:PORT -coffer-local https://HOST:PORT
//
// S3 keys come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; Coffer tokens from
// COFFER_TOKEN_S3 and COFFER_TOKEN_LOCAL.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	file := flag.String("file", "", "the file to move")
	s3url := flag.String("s3", "", "S3 endpoint, http://host:port")
	bucket := flag.String("bucket", "", "bucket for the direct transfers")
	cofferS3 := flag.String("coffer-s3", "", "base URL of a Coffer on that S3 server")
	cofferLocal := flag.String("coffer-local", "", "base URL of a Coffer on local disk (optional)")
	runs := flag.Int("runs", 3, "runs")
	cpuOf := flag.String("cpu", "", "comma-separated name=PID of server processes whose CPU time to report (e.g. coffer=123,versitygw=456)")
	flag.Parse()
	procs, err := parseProcs(*cpuOf)
	check(err)
	if *file == "" || *s3url == "" || *bucket == "" || *cofferS3 == "" {
		fmt.Fprintln(os.Stderr, "s3cmp: give -file, -s3, -bucket and -coffer-s3")
		os.Exit(2)
	}
	fi, err := os.Stat(*file)
	check(err)
	size := fi.Size()
	u, err := url.Parse(*s3url)
	check(err)
	mc, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), ""),
		Secure: u.Scheme == "https", Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	check(err)
	// Benchmarks against self-signed loopback servers only.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	ctx := context.Background()

	type target struct {
		name     string
		put, get func() error
	}
	coffer := func(base, token string) (put, get func() error) {
		path := base + "/api/v1/files/s3cmp/file.bin"
		put = func() error {
			f, err := os.Open(*file)
			if err != nil {
				return err
			}
			defer f.Close()
			req, _ := http.NewRequest("PUT", path, onlyReader{f})
			req.ContentLength = size
			req.Header.Set("Authorization", "Bearer "+token)
			return do(hc, req, http.StatusCreated, size, false)
		}
		get = func() error {
			req, _ := http.NewRequest("GET", path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			return do(hc, req, http.StatusOK, size, true)
		}
		return put, get
	}
	targets := []target{{name: "minio-go direct",
		put: func() error {
			f, err := os.Open(*file)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = mc.PutObject(ctx, *bucket, "s3cmp-direct", onlyReader{f}, size, minio.PutObjectOptions{})
			return err
		},
		get: func() error {
			o, err := mc.GetObject(ctx, *bucket, "s3cmp-direct", minio.GetObjectOptions{})
			if err != nil {
				return err
			}
			defer o.Close()
			n, err := io.Copy(io.Discard, onlyReader{o})
			if err == nil && n != size {
				err = fmt.Errorf("read %d bytes, want %d", n, size)
			}
			return err
		}}}
	p, g := coffer(*cofferS3, os.Getenv("COFFER_TOKEN_S3"))
	targets = append(targets, target{"Coffer on S3", p, g})
	if *cofferLocal != "" {
		p, g := coffer(*cofferLocal, os.Getenv("COFFER_TOKEN_LOCAL"))
		targets = append(targets, target{"Coffer on local disk", p, g})
	}

	put := make([][]float64, len(targets))
	get := make([][]float64, len(targets))
	cpu := map[string][]float64{} // "target op process" -> CPU seconds per GiB, per run
	measure := func(name string, fn func() error) float64 {
		before := cpuTimes(procs)
		v := timed(name, size, fn)
		after := cpuTimes(procs)
		for p := range after {
			cpu[name+"\t"+p] = append(cpu[name+"\t"+p], (after[p]-before[p])/(float64(size)/(1<<30)))
		}
		return v
	}
	for r := range *runs {
		for i, t := range targets { // interleaved, so that load drifts hit every target alike
			put[i] = append(put[i], measure(t.name+" put", t.put))
			get[i] = append(get[i], measure(t.name+" get", t.get))
		}
		fmt.Fprintf(os.Stderr, "run %d of %d done\n", r+1, *runs)
	}
	fmt.Printf("%d MiB, medians of %d runs, MB/s\n", size>>20, *runs)
	fmt.Printf("%-22s %8s %8s %12s %12s\n", "", "put", "get", "put ratio", "get ratio")
	for i, t := range targets {
		mp, mg := median(put[i]), median(get[i])
		fmt.Printf("%-22s %8.0f %8.0f %12s %12s\n", t.name, mp, mg, ratio(mp, median(put[0]), i), ratio(mg, median(get[0]), i))
	}
	if len(targets) == 3 {
		fmt.Printf("Coffer on S3 / Coffer on local disk: put %.2f, get %.2f\n", median(put[1])/median(put[2]), median(get[1])/median(get[2]))
	}
	if len(procs) > 0 {
		fmt.Printf("CPU seconds per GiB (medians), by process:\n")
		for _, t := range targets {
			for _, op := range []string{"put", "get"} {
				fmt.Printf("  %-26s", t.name+" "+op)
				for _, p := range append(slices.Sorted(maps.Keys(procs)), "client") {
					fmt.Printf("  %s %.2f", p, median(cpu[t.name+" "+op+"\t"+p]))
				}
				fmt.Println()
			}
		}
	}
}

// parseProcs parses name=PID,...
func parseProcs(v string) (map[string]int, error) {
	out := map[string]int{}
	for _, item := range strings.Split(v, ",") {
		if item == "" {
			continue
		}
		name, pid, ok := strings.Cut(item, "=")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil || name == "" || name == "client" {
			return nil, fmt.Errorf("-cpu: %q is not name=PID", item)
		}
		out[name] = n
	}
	return out, nil
}

// cpuTimes returns the user+system CPU seconds of each process so far, and of this one
// (the client) as "client".
func cpuTimes(procs map[string]int) map[string]float64 {
	out := map[string]float64{}
	for name, pid := range procs {
		out[name] = procCPU(strconv.Itoa(pid))
	}
	out["client"] = procCPU("self")
	return out
}

// procCPU reads utime+stime from /proc/PID/stat (clock ticks of 1/100 s on Linux).
func procCPU(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count from after it.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	sy, _ := strconv.ParseFloat(f[12], 64)
	return (u + sy) / 100
}

// onlyReader hides every method but Read, as a network body would.
type onlyReader struct{ io.Reader }

func do(hc *http.Client, req *http.Request, want int, size int64, body bool) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d", req.Method, req.URL, resp.StatusCode)
	}
	if body && n != size {
		return fmt.Errorf("GET %s: %d bytes, want %d", req.URL, n, size)
	}
	return nil
}

func timed(what string, size int64, fn func() error) float64 {
	start := time.Now()
	if err := fn(); err != nil {
		fmt.Fprintf(os.Stderr, "s3cmp: %s: %v\n", what, err)
		os.Exit(1)
	}
	return float64(size) / 1e6 / time.Since(start).Seconds()
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func ratio(v, base float64, i int) string {
	if i == 0 {
		return "1 (base)"
	}
	return fmt.Sprintf("%.2f", v/base)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3cmp:", err)
		os.Exit(1)
	}
}
