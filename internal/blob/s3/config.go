package s3

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Addressing says how requests name the bucket.
type Addressing uint8

const (
	AutoAddressing   Addressing = iota // virtual-host style for AWS and other known clouds, path style elsewhere
	PathStyle                          // http://endpoint/bucket/key
	VirtualHostStyle                   // http://bucket.endpoint/key
)

// Limits of the S3 protocol that the writer must respect.
const (
	minPartSize = 5 << 20
	maxPartSize = 5 << 30
	maxParts    = 10_000
)

// Config locates a bucket and says how to use it. ParseURL makes one from the value
// of --blobs. It holds no credentials: New finds them in the environment.
type Config struct {
	Bucket     string
	Prefix     string // prepended to every blob id; "" or ending in "/"
	Endpoint   string // scheme://host[:port]; "" means Amazon S3
	Region     string // "" means AWS_REGION, AWS_DEFAULT_REGION or us-east-1
	Addressing Addressing

	// PartSize is the size of the parts a blob is uploaded in, and of each of the
	// buffers a writer holds: at most Uploads+1 of them. 0 means DefaultPartSize.
	// A blob has at most 10,000 parts, so PartSize also bounds the blob's size.
	PartSize int64
	// Uploads is how many parts of one blob are sent at once. 0 means DefaultUploads.
	Uploads int
	// Retries is how many times a request is tried in all before a 5xx answer or a
	// network error is reported (with exponential backoff between tries, capped at
	// 1s). 0 means DefaultRetries.
	Retries int

	// Transport, if not nil, carries the requests (tests inject faults with it).
	Transport http.RoundTripper
}

// Defaults for the zero values of Config.
const (
	DefaultPartSize = 8 << 20
	DefaultUploads  = 2
	DefaultRetries  = 6
)

// ParseURL parses the --blobs value
//
//	s3://BUCKET[/PREFIX][?endpoint=URL&region=R&path-style=true|false&part-size=N&uploads=N&retries=N]
//
// Credentials never go in the URL: ParseURL refuses a URL that holds any.
func ParseURL(raw string) (Config, error) {
	if strings.Contains(raw, "@") {
		// Refused before anything else, so that no message repeats a secret.
		return Config{}, errors.New("credentials do not belong in --blobs: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or use a shared credentials file) instead")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("%q is not a URL (%v): use s3://BUCKET/PREFIX?endpoint=https://HOST:PORT", raw, unwrapURLError(err))
	}
	if u.Scheme != "s3" {
		return Config{}, fmt.Errorf("%q: the only blob store URL scheme is s3:// (leave --blobs empty for the local store in the data directory)", raw)
	}
	if u.Opaque != "" || u.Fragment != "" {
		return Config{}, fmt.Errorf("%q: expected s3://BUCKET/PREFIX?OPTIONS", raw)
	}
	c := Config{Bucket: u.Host}
	if err := checkBucket(c.Bucket); err != nil {
		return Config{}, fmt.Errorf("%q: %w", raw, err)
	}
	if c.Prefix, err = cleanPrefix(u.Path); err != nil {
		return Config{}, fmt.Errorf("%q: %w", raw, err)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, fmt.Errorf("%q: bad options: %v", raw, err)
	}
	for name, values := range q {
		if len(values) != 1 {
			return Config{}, fmt.Errorf("%q: option %s given %d times", raw, name, len(values))
		}
		v := values[0]
		switch name {
		case "endpoint":
			c.Endpoint, err = checkEndpoint(v)
		case "region":
			c.Region = v
		case "path-style":
			var b bool
			if b, err = strconv.ParseBool(v); err == nil {
				c.Addressing = VirtualHostStyle
				if b {
					c.Addressing = PathStyle
				}
			}
		case "part-size":
			c.PartSize, err = parseSize(v)
			if err == nil && (c.PartSize < minPartSize || c.PartSize > maxPartSize) {
				err = fmt.Errorf("%s is outside S3's limits of 5MiB to 5GiB", v)
			}
		case "uploads":
			c.Uploads, err = strconv.Atoi(v)
			if err == nil && (c.Uploads < 1 || c.Uploads > 64) {
				err = errors.New("must be 1 to 64")
			}
		case "retries":
			c.Retries, err = strconv.Atoi(v)
			if err == nil && (c.Retries < 1 || c.Retries > 100) {
				err = errors.New("must be 1 to 100")
			}
		default:
			return Config{}, fmt.Errorf("%q: unknown option %q (known: endpoint, region, path-style, part-size, uploads, retries)", raw, name)
		}
		if err != nil {
			return Config{}, fmt.Errorf("%q: option %s: %v", raw, name, unwrapURLError(err))
		}
	}
	return c, nil
}

// String is the store's URL as ParseURL takes it, with the options that differ
// from the defaults.
func (c Config) String() string {
	u := url.URL{Scheme: "s3", Host: c.Bucket, Path: "/" + c.Prefix}
	q := url.Values{}
	if c.Endpoint != "" {
		q.Set("endpoint", c.Endpoint)
	}
	if c.Region != "" {
		q.Set("region", c.Region)
	}
	switch c.Addressing {
	case PathStyle:
		q.Set("path-style", "true")
	case VirtualHostStyle:
		q.Set("path-style", "false")
	}
	if c.PartSize != 0 {
		q.Set("part-size", strconv.FormatInt(c.PartSize, 10))
	}
	if c.Uploads != 0 {
		q.Set("uploads", strconv.Itoa(c.Uploads))
	}
	if c.Retries != 0 {
		q.Set("retries", strconv.Itoa(c.Retries))
	}
	// Readable rather than minimal escaping: the value is shown to people.
	u.RawQuery = strings.NewReplacer("%3A", ":", "%2F", "/").Replace(q.Encode())
	return u.String()
}

func (c Config) withDefaults(env func(string) string) Config {
	if c.Region == "" {
		c.Region = firstSet(env, "AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.PartSize == 0 {
		c.PartSize = DefaultPartSize
	}
	if c.Uploads == 0 {
		c.Uploads = DefaultUploads
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	return c
}

// Host returns the endpoint's host[:port] and whether to use TLS.
func (c Config) Host() (host string, secure bool) {
	if c.Endpoint == "" {
		return "s3.amazonaws.com", true
	}
	u, _ := url.Parse(c.Endpoint) // checked by checkEndpoint or New
	return u.Host, u.Scheme == "https"
}

// endpointName is the endpoint for messages.
func (c Config) endpointName() string {
	if c.Endpoint == "" {
		return "Amazon S3 (region " + c.Region + ")"
	}
	return c.Endpoint
}

func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket name %q must be 3 to 63 characters long", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("bucket name %q may hold only lower-case letters, digits, '-' and '.'", b)
		}
	}
	return nil
}

// cleanPrefix turns the URL path into a key prefix: no leading slash, a trailing one.
func cleanPrefix(p string) (string, error) {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("key prefix %q has an empty, . or .. segment", p)
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return "", fmt.Errorf("key prefix %q holds a control character or backslash", p)
		}
	}
	if len(p) > 512 {
		return "", errors.New("key prefix is longer than 512 bytes")
	}
	return strings.TrimSuffix(p, "/") + "/", nil
}

func checkEndpoint(v string) (string, error) {
	u, err := url.Parse(v)
	switch {
	case !strings.Contains(v, "://"):
		return "", fmt.Errorf("%q must start with https:// (or http://)", v)
	case err != nil:
		return "", err
	case u.User != nil:
		return "", errors.New("credentials do not belong in the endpoint URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%q must start with https:// (or http://)", v)
	case u.Host == "":
		return "", fmt.Errorf("%q names no host", v)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "":
		return "", fmt.Errorf("%q must be scheme://host[:port] only", v)
	}
	return u.Scheme + "://" + u.Host, nil
}

// parseSize parses a byte count with an optional KiB, MiB or GiB suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size (write e.g. 16MiB)", s)
	}
	return n * mult, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func firstSet(env func(string) string, names ...string) string {
	for _, n := range names {
		if v := env(n); v != "" {
			return v
		}
	}
	return ""
}

// findCredentials returns the credentials the AWS tools would use: the
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN environment
// variables, else the profile AWS_PROFILE (or "default") of the shared credentials
// file AWS_SHARED_CREDENTIALS_FILE (or ~/.aws/credentials). Instance roles are not
// looked up.
func findCredentials(env func(string) string) (*credentials.Credentials, string, error) {
	id, secret := env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")
	switch {
	case id != "" && secret != "":
		return credentials.NewStaticV4(id, secret, env("AWS_SESSION_TOKEN")), "the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY environment variables", nil
	case id != "":
		return nil, "", errors.New("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both")
	case secret != "":
		return nil, "", errors.New("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not: set both")
	}
	file := env("AWS_SHARED_CREDENTIALS_FILE")
	if file == "" && env("HOME") != "" {
		file = filepath.Join(env("HOME"), ".aws", "credentials")
	}
	profile := env("AWS_PROFILE")
	if profile == "" {
		profile = "default"
	}
	if file != "" {
		if _, err := os.Stat(file); err == nil {
			c := credentials.New(&credentials.FileAWSCredentials{Filename: file, Profile: profile})
			if _, err := c.GetWithContext(nil); err != nil {
				return nil, "", fmt.Errorf("shared credentials file %s, profile %q: %v", file, profile, err)
			}
			return c, fmt.Sprintf("profile %q of %s", profile, file), nil
		}
	}
	return nil, "", errors.New("no S3 credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or AWS_PROFILE with a shared credentials file")
}

// transport is minio's default one, trusting also the CA bundle that AWS tools
// take from AWS_CA_BUNDLE.
func transport(secure bool, env func(string) string) (http.RoundTripper, error) {
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if bundle := env("AWS_CA_BUNDLE"); secure && bundle != "" {
		pem, err := os.ReadFile(bundle)
		if err != nil {
			return nil, fmt.Errorf("AWS_CA_BUNDLE: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("AWS_CA_BUNDLE: %s holds no PEM certificate", bundle)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return tr, nil
}
