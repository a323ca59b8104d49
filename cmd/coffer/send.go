package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/parcel/e2e"
)

const sendUsage = "send --server URL --token TOKEN [--e2e] [--to EMAIL]... [--expires 72h] [--subject TEXT] [--message TEXT] [--max-downloads N] [--passphrase-stdin] [--ca-file PEM] FILE..."

type sendOptions struct {
	server, token, expires, subject, message, caFile string
	to                                               multiFlag
	e2e, passphraseStdin                             bool
	maxDownloads                                     int64
}

// cmdSend sends files as a parcel and prints one link per recipient (or one link).
func cmdSend(ctx context.Context, e env, args []string) int {
	var o sendOptions
	pos, code, ok := clientFlags(e, "send", sendUsage, args, func(fs *flag.FlagSet) {
		fs.StringVar(&o.server, "server", e.getenv("COFFER_SERVER"), "the server's URL, e.g. https://coffer.example.org (or COFFER_SERVER)")
		fs.StringVar(&o.token, "token", e.getenv("COFFER_TOKEN"), "your API token (or COFFER_TOKEN)")
		fs.BoolVar(&o.e2e, "e2e", false, "encrypt end to end: the key travels only in the links' #fragment")
		fs.Var(&o.to, "to", "a recipient's e-mail address (repeat for several; none: one link to pass on)")
		fs.StringVar(&o.expires, "expires", "", "how long the links work, e.g. 72h (default: the server's, 7 days)")
		fs.StringVar(&o.subject, "subject", "", "the subject (default: the first file's name)")
		fs.StringVar(&o.message, "message", "", "a message for the recipients")
		fs.Int64Var(&o.maxDownloads, "max-downloads", -1, "downloads per recipient and file; 0 = unlimited (default: the server's)")
		fs.BoolVar(&o.passphraseStdin, "passphrase-stdin", false, "require a passphrase, read from the first line of standard input")
		fs.StringVar(&o.caFile, "ca-file", "", "trust only the PEM certificates in this file (a server with its own certificate)")
	})
	if !ok {
		return code
	}
	if len(pos) == 0 || o.server == "" || o.token == "" {
		fmt.Fprintf(e.stderr, "coffer: send: give --server, --token and at least one file (usage: coffer %s)\n", sendUsage)
		return exitUsage
	}
	links, err := send(ctx, e, o, pos)
	if err != nil {
		return clientFail(e, "send", err)
	}
	for _, l := range links {
		fmt.Fprintln(e.stdout, l)
	}
	return exitOK
}

type sentParcel struct {
	ID    string `json:"id"`
	Links []struct {
		Email string `json:"email"`
		URL   string `json:"url"`
	} `json:"links"`
}

// localFile is a file to send: its name, size and digest, read before it is sent.
type localFile struct {
	path, name string
	size       int64
	sum        []byte
}

func inspect(path string) (localFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return localFile{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return localFile{}, err
	}
	if !st.Mode().IsRegular() {
		return localFile{}, fmt.Errorf("%s is not a regular file", path)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return localFile{}, err
	}
	name := filepath.Base(path)
	if err := files.CheckName(name); err != nil {
		return localFile{}, fmt.Errorf("%s: %s", path, err)
	}
	return localFile{path: path, name: name, size: n, sum: h.Sum(nil)}, nil
}

func send(ctx context.Context, e env, o sendOptions, paths []string) ([]string, error) {
	var local []localFile
	for _, p := range paths {
		lf, err := inspect(p)
		if err != nil {
			return nil, err
		}
		local = append(local, lf)
	}
	hc, err := newHTTPClient(o.caFile)
	if err != nil {
		return nil, err
	}
	c := &apiClient{base: strings.TrimSuffix(o.server, "/") + "/api/v1", token: o.token, http: hc}
	req := map[string]any{"subject": o.subject, "recipients": []string(o.to), "e2e": o.e2e}
	if req["subject"] == "" {
		req["subject"] = local[0].name
		if len(local) > 1 {
			req["subject"] = fmt.Sprintf("%s and %d more", local[0].name, len(local)-1)
		}
	}
	if o.expires != "" {
		req["expires_in"] = o.expires
	}
	if o.maxDownloads >= 0 {
		req["max_downloads"] = o.maxDownloads
	}
	var keys e2e.Keys
	secret := e2e.NewSecret()
	var pass []byte
	if o.passphraseStdin {
		pw, err := readPassphrase(e.stdin)
		if err != nil {
			return nil, err
		}
		req["passphrase"] = pw
		if o.e2e {
			salt := e2e.NewSalt()
			var verifier string
			if pass, verifier, err = e2e.Passphrase(pw, salt); err != nil {
				return nil, err
			}
			req["passphrase"], req["kdf_salt"] = verifier, base64.RawURLEncoding.EncodeToString(salt)
		}
	}
	if o.e2e {
		keys = e2e.NewKeys(secret, pass)
	} else {
		req["message"] = o.message
	}
	var p sentParcel
	if err := c.do(ctx, http.MethodPost, "/parcels", nil, req, 0, &p); err != nil {
		return nil, err
	}
	var manifest e2e.Manifest
	for _, lf := range local {
		nonce, err := upload(ctx, c, p.ID, lf, o.e2e, keys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", lf.path, err)
		}
		manifest.Files = append(manifest.Files, nonce)
	}
	body := map[string]string{}
	if o.e2e {
		manifest.Message = o.message
		if body["manifest"], err = keys.SealManifest(manifest); err != nil {
			return nil, err
		}
	}
	if err := c.do(ctx, http.MethodPost, "/parcels/"+p.ID+"/send", nil, body, 0, &p); err != nil {
		return nil, err
	}
	var out []string
	for _, l := range p.Links {
		link := l.URL
		if o.e2e {
			link += "#" + secret.Fragment()
		}
		if l.Email != "" {
			link = l.Email + " " + link
		}
		out = append(out, link)
	}
	return out, nil
}

// upload adds one file to the draft p, sealed when e2e; it returns the file's nonce
// (e2e) for the manifest.
func upload(ctx context.Context, c *apiClient, id string, lf localFile, sealed bool, keys e2e.Keys) (string, error) {
	f, err := os.Open(lf.path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if !sealed {
		h.Set("Repr-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(lf.sum)+":")
		return "", c.do(ctx, http.MethodPut, "/parcels/"+id+"/files/"+url.PathEscape(lf.name), h, f, lf.size, nil)
	}
	ef, err := keys.NewFile(lf.name, lf.size, lf.sum)
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(ef.Encrypt(pw, f)) }()
	defer pr.Close()
	err = c.do(ctx, http.MethodPut, "/parcels/"+id+"/files/"+ef.Sealed, h, pr, e2e.SealedSize(lf.size), nil)
	return ef.Nonce, err
}
