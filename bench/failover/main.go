// Command failover measures how long a cluster behind a load balancer is unavailable
// when a node dies: it sends requests back to back through the balancer, kills one node
// with SIGKILL after a while, and reports the time from the kill to the next successful
// request, how many requests failed, and the longest gap between successes.
//
//	failover -url https://LB -token T -kill PID [-after 3s] [-for 10s] [-path /api/v1/me]
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"
	"time"
)

func main() {
	base := flag.String("url", "", "the balancer's base URL")
	token := flag.String("token", os.Getenv("COFFER_TOKEN"), "API token (or COFFER_TOKEN)")
	path := flag.String("path", "/api/v1/me", "what to request")
	pid := flag.Int("kill", 0, "process id of the node to kill")
	after := flag.Duration("after", 3*time.Second, "when to kill it")
	total := flag.Duration("for", 10*time.Second, "how long to send requests")
	flag.Parse()
	if *base == "" || *pid == 0 {
		fmt.Fprintln(os.Stderr, "failover: give -url and -kill")
		os.Exit(2)
	}
	// Benchmarks against self-signed loopback servers only. Keep-alive, as browsers and
	// API clients do: a connection to the dead node fails once, the next one goes elsewhere.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	start := time.Now()
	var killed, firstOK, lastOK time.Time
	var ok, failed int
	var gap time.Duration
	for time.Since(start) < *total {
		if killed.IsZero() && time.Since(start) >= *after {
			if err := syscall.Kill(*pid, syscall.SIGKILL); err != nil {
				fmt.Fprintln(os.Stderr, "failover: kill:", err)
				os.Exit(1)
			}
			killed = time.Now()
		}
		sent := time.Now()
		req, _ := http.NewRequest("GET", *base+*path, nil)
		req.Header.Set("Authorization", "Bearer "+*token)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			failed++
			continue
		}
		now := time.Now()
		ok++
		if !lastOK.IsZero() && now.Sub(lastOK) > gap {
			gap = now.Sub(lastOK)
		}
		lastOK = now
		if !killed.IsZero() && firstOK.IsZero() && sent.After(killed) {
			firstOK = now
		}
	}
	if firstOK.IsZero() {
		fmt.Printf("failover: no request succeeded after the kill (%d ok before, %d failed)\n", ok, failed)
		os.Exit(1)
	}
	fmt.Printf("failover: next success %.1f ms after SIGKILL; %d requests failed, %d succeeded; longest gap between successes %.1f ms\n",
		float64(firstOK.Sub(killed).Microseconds())/1000, failed, ok, float64(gap.Microseconds())/1000)
}
