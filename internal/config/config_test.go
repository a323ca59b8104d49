package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "coffer.conf")
	os.WriteFile(file, []byte("# comment\nhttp = \":9000\"\ndata=/from/file\nlog-level = debug\n"), 0o600)
	env := map[string]string{"COFFER_DATA": "/from/env", "COFFER_CONFIG": file}
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.Storage(fs)
	c.Serve(fs)
	if err := Parse(fs, []string{"--log-level", "warn"}, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":9000" || c.DataDir != "/from/env" || c.LogLevel != "warn" || c.LogFormat != "text" {
		t.Fatalf("got %+v", c)
	}
	if c.DBDSN() != "/from/env/coffer.db" || c.KEKPath() != "/from/env/coffer.kek" {
		t.Fatalf("derived paths: %s %s", c.DBDSN(), c.KEKPath())
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"unknown": "nope = 1\n", "syntax": "http\n", "type": "shutdown-timeout = soon\n"} {
		file := filepath.Join(dir, name)
		os.WriteFile(file, []byte(body), 0o600)
		var c Config
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c.Storage(fs)
		c.Serve(fs)
		err := Parse(fs, []string{"--config", file}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), file+":1") {
			t.Errorf("%s: got %v, want an error naming %s:1", name, err, file)
		}
	}
	var c Config
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c.Serve(fs)
	if err := Parse(fs, nil, func(k string) string {
		if k == "COFFER_SHUTDOWN_TIMEOUT" {
			return "x"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "COFFER_SHUTDOWN_TIMEOUT") {
		t.Errorf("bad env value: %v", err)
	}
}

func TestBlobs(t *testing.T) {
	const url = "s3://bucket/coffer?endpoint=http://127.0.0.1:9000&path-style=true"
	for name, tt := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"default": {want: ""},
		"flag":    {args: []string{"--blobs", url}, want: url},
		"env":     {env: map[string]string{"COFFER_BLOBS": url}, want: url},
	} {
		var c Config
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		c.Storage(fs)
		if err := Parse(fs, tt.args, func(k string) string { return tt.env[k] }); err != nil {
			t.Fatal(err)
		}
		if c.Blobs != tt.want {
			t.Errorf("%s: Blobs = %q, want %q", name, c.Blobs, tt.want)
		}
	}
}
