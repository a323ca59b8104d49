package s3

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/coffer-mft/coffer/internal/errs"
)

func TestParseURL(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want Config
	}{
		{"s3://bucket", Config{Bucket: "bucket"}},
		{"s3://bucket/", Config{Bucket: "bucket"}},
		{"s3://my.bucket-1/coffer/blobs", Config{Bucket: "my.bucket-1", Prefix: "coffer/blobs/"}},
		{"s3://b12/p/?region=eu-west-3", Config{Bucket: "b12", Prefix: "p/", Region: "eu-west-3"}},
		{"s3://bucket/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1&path-style=true",
			Config{Bucket: "bucket", Prefix: "prefix/", Endpoint: "http://127.0.0.1:9000", Region: "us-east-1", Addressing: PathStyle}},
		{"s3://bucket?endpoint=https://s3.example.com/&path-style=false", Config{Bucket: "bucket", Endpoint: "https://s3.example.com", Addressing: VirtualHostStyle}},
		{"s3://bucket?part-size=16MiB&uploads=4&retries=3", Config{Bucket: "bucket", PartSize: 16 << 20, Uploads: 4, Retries: 3}},
		{"s3://bucket?part-size=5242880", Config{Bucket: "bucket", PartSize: 5 << 20}},
	} {
		got, err := ParseURL(tt.url)
		if err != nil || got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tt.url, got, err, tt.want)
			continue
		}
		// String gives a URL that parses back to the same.
		if again, err := ParseURL(got.String()); err != nil || again != got {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", got.String(), again, err, got)
		}
	}

	for _, tt := range []struct {
		url, says string
	}{
		{"/srv/blobs", "s3://"},
		{"file:///srv/blobs", "s3://"},
		{"s3://key:secret@bucket/p", "credentials do not belong"},
		{"s3://bucket?endpoint=http://key:secret@127.0.0.1:9000", "credentials do not belong"},
		{"s3://b", "3 to 63"},
		{"s3://Bucket", "lower-case"},
		{"s3://bucket/a//b", "empty"},
		{"s3://bucket/a/../b", ".."},
		{"s3://bucket/a%00b", "control"},
		{"s3://bucket?endpoint=127.0.0.1:9000", "https://"},
		{"s3://bucket?endpoint=ftp://host", "https://"},
		{"s3://bucket?endpoint=http://host/path", "scheme://host[:port] only"},
		{"s3://bucket?endpoint=http://", "names no host"},
		{"s3://bucket?path-style=maybe", "path-style"},
		{"s3://bucket?part-size=1MiB", "5MiB to 5GiB"},
		{"s3://bucket?part-size=big", "not a size"},
		{"s3://bucket?uploads=0", "1 to 64"},
		{"s3://bucket?retries=-1", "1 to 100"},
		{"s3://bucket?region=a&region=b", "2 times"},
		{"s3://bucket?regoin=us-east-1", `unknown option "regoin"`},
		{"s3://bucket#frag", "expected"},
	} {
		_, err := ParseURL(tt.url)
		if err == nil || !strings.Contains(err.Error(), tt.says) {
			t.Errorf("ParseURL(%q) error = %v, want one that says %q", tt.url, err, tt.says)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURL(%q) error shows the secret: %v", tt.url, err)
		}
	}
}

func TestFindCredentials(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".aws"), 0o700)
	os.WriteFile(filepath.Join(home, ".aws", "credentials"), []byte("[default]\naws_access_key_id = homekey\naws_secret_access_key = homesecret\n"), 0o600)
	other := filepath.Join(t.TempDir(), "creds")
	os.WriteFile(other, []byte("[default]\naws_access_key_id = d\naws_secret_access_key = d\n[ci]\naws_access_key_id = cikey\naws_secret_access_key = cisecret\naws_session_token = citoken\n"), 0o600)

	for _, tt := range []struct {
		env               map[string]string
		id, secret, token string
		source, errorSays string
	}{
		{env: map[string]string{"AWS_ACCESS_KEY_ID": "envkey", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_SESSION_TOKEN": "envtoken", "HOME": home},
			id: "envkey", secret: "envsecret", token: "envtoken", source: "environment variables"},
		{env: map[string]string{"HOME": home}, id: "homekey", secret: "homesecret", source: filepath.Join(home, ".aws", "credentials")},
		{env: map[string]string{"HOME": home, "AWS_SHARED_CREDENTIALS_FILE": other, "AWS_PROFILE": "ci"},
			id: "cikey", secret: "cisecret", token: "citoken", source: `profile "ci"`},
		{env: map[string]string{"HOME": home, "AWS_PROFILE": "missing"}, errorSays: `profile "missing"`},
		{env: map[string]string{"AWS_ACCESS_KEY_ID": "k"}, errorSays: "AWS_SECRET_ACCESS_KEY is not"},
		{env: map[string]string{"AWS_SECRET_ACCESS_KEY": "s"}, errorSays: "AWS_ACCESS_KEY_ID is not"},
		{env: map[string]string{"HOME": t.TempDir()}, errorSays: "no S3 credentials found"},
		{env: map[string]string{}, errorSays: "no S3 credentials found"},
	} {
		c, source, err := findCredentials(func(k string) string { return tt.env[k] })
		if tt.errorSays != "" {
			if err == nil || !strings.Contains(err.Error(), tt.errorSays) {
				t.Errorf("env %v: error %v, want one that says %q", tt.env, err, tt.errorSays)
			}
			continue
		}
		if err != nil {
			t.Errorf("env %v: %v", tt.env, err)
			continue
		}
		v, err := c.GetWithContext(nil)
		if err != nil || v.AccessKeyID != tt.id || v.SecretAccessKey != tt.secret || v.SessionToken != tt.token {
			t.Errorf("env %v: credentials %q %q %q (%v), want %q %q %q", tt.env, v.AccessKeyID, v.SecretAccessKey, v.SessionToken, err, tt.id, tt.secret, tt.token)
		}
		if !strings.Contains(source, tt.source) || strings.Contains(source, tt.secret) {
			t.Errorf("env %v: source %q, want one that names %q and not the secret", tt.env, source, tt.source)
		}
	}
}

// The errors an operator must act on, made by hand: a real server rarely gives them.
func TestFail(t *testing.T) {
	s := &Store{cfg: Config{Bucket: "coffer", Endpoint: "https://s3.example.com", Retries: 5}}
	answer := func(status int, code string) error {
		return minio.ErrorResponse{StatusCode: status, Code: code, Message: "the message"}
	}
	netErr := &url.Error{Op: "Get", URL: "https://s3.example.com/coffer", Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}
	for _, tt := range []struct {
		err      error
		kind     errs.Kind
		contains []string
	}{
		{answer(403, "AccessDenied"), errs.Unavailable, []string{"refused coffer's credentials", "bucket's permissions", "403 AccessDenied: the message"}},
		{answer(403, "SignatureDoesNotMatch"), errs.Unavailable, []string{"AWS_SECRET_ACCESS_KEY"}},
		{answer(400, "ExpiredToken"), errs.Unavailable, []string{"refused"}},
		{answer(404, "NoSuchBucket"), errs.Unavailable, []string{`"coffer"`, "does not exist", "--blobs"}},
		{answer(507, "XMinioStorageFull"), errs.NoSpace, []string{"is full", "free space"}},
		{answer(403, "QuotaExceeded"), errs.NoSpace, nil}, // Ceph's, a 403 that is no refusal
		{answer(503, "SlowDown"), errs.Unavailable, []string{"after 5 tries", "503 SlowDown"}},
		{answer(500, "InternalError"), errs.Unavailable, []string{"https://s3.example.com"}},
		{answer(429, ""), errs.Unavailable, nil},
		{netErr, errs.Unavailable, []string{"cannot reach", "connection refused", "check the endpoint"}},
		{answer(400, "InvalidArgument"), errs.Other, []string{"400 InvalidArgument"}},
		{context.Canceled, errs.Canceled, nil},
		{&url.Error{Op: "Put", Err: context.DeadlineExceeded}, errs.Canceled, nil},
	} {
		err := s.fail(context.Background(), "s3.Test", tt.err)
		if got := errs.KindOf(err); got != tt.kind {
			t.Errorf("fail(%v) has kind %q, want %q", tt.err, got, tt.kind)
		}
		for _, c := range tt.contains {
			if !strings.Contains(err.Error(), c) {
				t.Errorf("fail(%v) = %q, which does not say %q", tt.err, err, c)
			}
		}
	}
	// Whatever the last try's failure, an ended ctx is the cause.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.fail(ctx, "s3.Test", answer(503, "SlowDown")); !errs.Is(errs.Canceled, err) {
		t.Errorf("fail with ctx canceled = %v, want kind Canceled", err)
	}
	if err := s.failBlob(context.Background(), "s3.Test", "0123456789abcdef0123456789abcdef", answer(404, "NoSuchKey")); !errs.Is(errs.NotFound, err) {
		t.Errorf("failBlob(NoSuchKey) = %v, want kind NotFound", err)
	}
	if err := s.failBlob(context.Background(), "s3.Test", "0123456789abcdef0123456789abcdef", answer(404, "XAdminUserNotFound")); !errs.Is(errs.Unavailable, err) {
		t.Errorf("failBlob(XAdminUserNotFound) = %v, want kind Unavailable", err)
	}
}
