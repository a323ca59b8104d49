package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/parcel"
	"github.com/coffer-mft/coffer/internal/parcel/e2e"
)

const receiveUsage = "receive [--out DIR] [--passphrase-stdin] [--ca-file PEM] LINK"

// cmdReceive downloads, decrypts and verifies the files of a parcel link.
func cmdReceive(ctx context.Context, e env, args []string) int {
	var out, caFile string
	var passStdin bool
	pos, code, ok := clientFlags(e, "receive", receiveUsage, args, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "out", ".", "the directory to write the files in (existing files are never replaced)")
		fs.BoolVar(&passStdin, "passphrase-stdin", false, "read the parcel's passphrase from the first line of standard input")
		fs.StringVar(&caFile, "ca-file", "", "trust only the PEM certificates in this file (a server with its own certificate)")
	})
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(e.stderr, "coffer: receive: give one link (usage: coffer %s)\n", receiveUsage)
		return exitUsage
	}
	r, err := parseLink(pos[0])
	if err != nil {
		fmt.Fprintf(e.stderr, "coffer: receive: %v\n", err)
		return exitUsage
	}
	if r.http, err = newHTTPClient(caFile); err != nil {
		return clientFail(e, "receive", err)
	}
	if passStdin {
		if r.passphrase, err = readPassphrase(e.stdin); err != nil {
			return clientFail(e, "receive", err)
		}
	}
	got, err := r.receive(ctx, out)
	for _, f := range got {
		fmt.Fprintf(e.stdout, "%s\t%d\tsha256:%s\n", printable(f.Name), f.Size, f.SHA256)
	}
	if err != nil {
		return clientFail(e, "receive", err)
	}
	return exitOK
}

type receiver struct {
	apiClient
	secret     *e2e.Secret
	passphrase string
	ticket     http.Header
}

// parseLink reads https://HOST/p/TOKEN[#e1.KEY].
func parseLink(link string) (*receiver, error) {
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("the link must be an https:// link as the sender gave it")
	}
	token, ok := strings.CutPrefix(u.EscapedPath(), "/p/")
	if !ok || !validToken(token) || u.User != nil {
		return nil, errors.New("the link must look like https://HOST/p/TOKEN: was it cut short?")
	}
	r := &receiver{apiClient: apiClient{base: "https://" + u.Host + "/api/v1/p/" + token}}
	if u.Fragment != "" {
		s, err := e2e.ParseFragment(u.Fragment)
		if err != nil {
			return nil, err
		}
		r.secret = &s
	}
	return r, nil
}

// validToken reports whether t has the shape of a link token (docs/parcels.md, "Links"):
// what else reached the API's URL could name another endpoint ("..", "%2F").
func validToken(t string) bool {
	if len(t) != base64.RawURLEncoding.EncodedLen(parcel.TokenBytes) {
		return false
	}
	for _, c := range t {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

type view struct {
	Sender     string `json:"sender"`
	Subject    string `json:"subject"`
	Message    string `json:"message"`
	E2E        bool   `json:"e2e"`
	KDFSalt    string `json:"kdf_salt"`
	Manifest   string `json:"manifest"`
	Passphrase bool   `json:"passphrase_required"`
	Locked     bool   `json:"locked"`
	Files      []struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	} `json:"files"`
}

// received is a file written to the output directory.
type received struct {
	Name   string
	Size   int64
	SHA256 string
}

func (r *receiver) receive(ctx context.Context, out string) ([]received, error) {
	var v view
	if err := r.do(ctx, http.MethodGet, "", nil, nil, 0, &v); err != nil {
		return nil, err
	}
	if v.E2E && r.secret == nil {
		return nil, errors.New("this parcel is encrypted end to end, but the link has no key (the part after #): use the whole link")
	}
	var pass []byte
	if v.Passphrase {
		if r.passphrase == "" {
			return nil, errors.New("this parcel needs a passphrase: pass it with --passphrase-stdin")
		}
		secret := r.passphrase
		if v.E2E {
			salt, err := base64.RawURLEncoding.DecodeString(v.KDFSalt)
			if err != nil {
				return nil, errors.New("the server sent a malformed passphrase salt")
			}
			if pass, secret, err = e2e.Passphrase(r.passphrase, salt); err != nil {
				return nil, err
			}
		}
		var t struct {
			Ticket string `json:"ticket"`
		}
		if err := r.do(ctx, http.MethodPost, "/unlock", nil, map[string]string{"passphrase": secret}, 0, &t); err != nil {
			return nil, err
		}
		r.ticket = http.Header{"Coffer-Parcel-Ticket": {t.Ticket}}
		if err := r.do(ctx, http.MethodGet, "", r.ticket, nil, 0, &v); err != nil {
			return nil, err
		}
	}
	plan, keys, err := r.plan(v, pass)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return nil, err
	}
	var got []received
	for i, f := range v.Files {
		rf, err := r.fetch(ctx, out, f.ID, plan[i], keys)
		if err != nil {
			return got, fmt.Errorf("%s: %w", printable(plan[i].Name), err)
		}
		got = append(got, rf)
	}
	return got, nil
}

// plan decides what each file is called and must hold, before anything is downloaded:
// from the server's listing, or for e2e from the sealed metadata checked against the
// sealed manifest (so that a server cannot drop or add files).
func (r *receiver) plan(v view, pass []byte) ([]e2e.Meta, e2e.Keys, error) {
	var plan []e2e.Meta
	var keys e2e.Keys
	if v.E2E {
		keys = e2e.NewKeys(*r.secret, pass)
	}
	var nonces []string
	for _, f := range v.Files {
		m := e2e.Meta{Name: f.Name, Size: f.Size, SHA256: f.SHA256}
		if v.E2E {
			var err error
			if m, err = keys.OpenMeta(f.Name); err != nil {
				return nil, keys, fmt.Errorf("cannot open a file's name: %w", err)
			}
			nonces = append(nonces, m.Nonce())
		}
		if err := files.CheckName(m.Name); err != nil {
			return nil, keys, fmt.Errorf("the parcel has a file whose name is unsafe (%q): %s", printable(m.Name), err)
		}
		if slices.ContainsFunc(plan, func(o e2e.Meta) bool { return o.Name == m.Name }) {
			return nil, keys, fmt.Errorf("the parcel has two files called %q", printable(m.Name))
		}
		plan = append(plan, m)
	}
	if v.E2E && v.Manifest != "" {
		man, err := keys.OpenManifest(v.Manifest)
		if err != nil {
			return nil, keys, fmt.Errorf("cannot open the parcel's manifest: %w", err)
		}
		a, b := slices.Clone(man.Files), slices.Clone(nonces)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			return nil, keys, errors.New("the server's files are not those the sender sealed in the manifest: refusing the parcel")
		}
	}
	return plan, keys, nil
}

// fetch downloads one file into a temporary file in out, checks it, and only then gives
// it its name; it never replaces an existing file.
func (r *receiver) fetch(ctx context.Context, out, id string, m e2e.Meta, keys e2e.Keys) (received, error) {
	dest := filepath.Join(out, m.Name)
	if _, err := os.Lstat(dest); err == nil {
		return received{}, fmt.Errorf("%s exists already: receive into another --out directory", dest)
	}
	resp, err := r.get(ctx, "/files/"+url.PathEscape(id), r.ticket)
	if err != nil {
		return received{}, err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(out, ".coffer-receive-*")
	if err != nil {
		return received{}, err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	h := sha256.New()
	var n int64
	if r.secret != nil {
		err = keys.Decrypt(io.MultiWriter(tmp, h), resp.Body, m)
		n = m.Size
	} else {
		n, err = io.Copy(io.MultiWriter(tmp, h), resp.Body)
		if err == nil && (n != m.Size || hex.EncodeToString(h.Sum(nil)) != m.SHA256) {
			err = errors.New("the download does not match the size and SHA-256 the server listed")
		}
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return received{}, err
	}
	// Link, not rename: it fails rather than replace a file that appeared meanwhile.
	if err := os.Link(tmp.Name(), dest); err != nil {
		return received{}, err
	}
	return received{Name: m.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
