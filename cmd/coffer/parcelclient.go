package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

// The client side of parcels (docs/parcels.md): coffer send and coffer receive speak the
// REST API of a Coffer server, like any other client.

// apiClient calls a Coffer server's API.
type apiClient struct {
	base  string // https://host[:port]/api/v1
	token string
	http  *http.Client
}

// newHTTPClient returns a client that trusts the system's roots, or only the PEM
// certificates in caFile when it is given (a server with its own certificate).
func newHTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	return &http.Client{Transport: tr}, nil
}

// apiError is a problem+json answer.
type apiError struct {
	Status int
	Detail string
}

func (e *apiError) Error() string {
	if e.Detail == "" {
		return http.StatusText(e.Status)
	}
	return e.Detail
}

// do sends a request and decodes a JSON answer into out (when not nil). body is JSON
// when it is not an io.Reader.
func (c *apiClient) do(ctx context.Context, method, path string, header http.Header, body any, size int64, out any) error {
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case io.Reader:
		r = b
	default:
		js, err := json.Marshal(b)
		if err != nil {
			return err
		}
		r, size = bytes.NewReader(js), int64(len(js))
		if header == nil {
			header = http.Header{}
		}
		header.Set("Content-Type", "application/json")
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return err
	}
	if r != nil {
		req.ContentLength = size
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return problemOf(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out)
}

// get starts a download; the caller closes the body.
func (c *apiClient) get(ctx context.Context, path string, header http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, problemOf(resp)
	}
	return resp, nil
}

func problemOf(resp *http.Response) error {
	var p struct {
		Detail string `json:"detail"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&p)
	return &apiError{Status: resp.StatusCode, Detail: printable(p.Detail)}
}

// readPassphrase reads one line from stdin (without its line end).
func readPassphrase(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no passphrase on standard input")
	}
	return line, nil
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// clientFlags parses a client command's flags (they may follow the arguments).
func clientFlags(e env, name, usage string, args []string, setup func(fs *flag.FlagSet)) (pos []string, code int, ok bool) {
	fs := flag.NewFlagSet("coffer "+name, flag.ContinueOnError)
	setup(fs)
	fs.SetOutput(io.Discard)
	err := fs.Parse(permute(fs, args))
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(e.stdout, "Usage: coffer %s\n\nFlags:\n", usage)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		return nil, exitOK, false
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "coffer: %s: %v (usage: coffer %s)\n", name, err, usage)
		return nil, exitUsage, false
	}
	return fs.Args(), 0, true
}

// clientFail reports a failure of a client command and returns its exit status.
func clientFail(e env, name string, err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		fmt.Fprintf(e.stderr, "coffer: %s: %s (HTTP %d)\n", name, ae.Detail, ae.Status)
		return exitFailure
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(e.stderr, "coffer: %s: interrupted\n", name)
		return exitFailure
	}
	fmt.Fprintf(e.stderr, "coffer: %s: %v\n", name, err)
	return exitFailure
}
