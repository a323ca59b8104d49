// Command putmany uploads many small files to a Coffer server concurrently and reports
// files per second: the "1,000 uploads of 4 KiB by 8 clients" benchmark. With -op get
// it downloads the files a previous run uploaded (bench/cluster.sh: aggregate throughput).
package main

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("url", "https://127.0.0.1:8443", "server base URL")
	token := flag.String("token", os.Getenv("COFFER_TOKEN"), "API token (or COFFER_TOKEN)")
	n := flag.Int("n", 1000, "number of files")
	c := flag.Int("c", 8, "concurrent clients")
	size := flag.Int("size", 4096, "bytes per file")
	dir := flag.String("dir", "putmany", "directory to upload into")
	op := flag.String("op", "put", "put (upload the files) or get (download them)")
	flag.Parse()
	if *op != "put" && *op != "get" {
		fmt.Fprintln(os.Stderr, "putmany: -op is put or get")
		os.Exit(2)
	}
	if *token == "" {
		fmt.Fprintln(os.Stderr, "putmany: give --token or COFFER_TOKEN")
		os.Exit(2)
	}
	body := make([]byte, *size)
	rand.Read(body)
	// Benchmark against a self-signed loopback server only.
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: *c}
	client := &http.Client{Transport: tr}
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(*n) {
					return
				}
				url := fmt.Sprintf("%s/api/v1/files/%s/f%06d.bin", *base, *dir, i)
				method, want := "PUT", http.StatusCreated
				var rd io.Reader = bytes.NewReader(body)
				if *op == "get" {
					method, want, rd = "GET", http.StatusOK, nil
				}
				req, _ := http.NewRequest(method, url, rd)
				req.Header.Set("Authorization", "Bearer "+*token)
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want || (*op == "get" && n != int64(*size)) {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("%s %d files of %d bytes, %d clients: %.2fs, %.0f files/s, %.0f MB/s, %d failed\n",
		*op, *n, *size, *c, el.Seconds(), float64(*n)/el.Seconds(), float64(*n)*float64(*size)/1e6/el.Seconds(), failed.Load())
	if failed.Load() > 0 {
		os.Exit(1)
	}
}
