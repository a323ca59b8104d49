package main

import (
	"flag"
	"slices"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	t.Parallel()
	good := []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"unlimited", 0},
		{"Unlimited", 0},
		{"none", 0},
		{"1", 1},
		{"1048576", 1 << 20},
		{"512B", 512},
		{"1k", 1024},
		{"1K", 1024},
		{"1KB", 1000},
		{"1KiB", 1024},
		{"500M", 500 << 20},
		{"500MB", 500e6},
		{"500 MiB", 500 << 20},
		{"10G", 10 << 30},
		{"10gb", 10e9},
		{"1T", 1 << 40},
		{"1TB", 1e12},
		{"1.5GiB", 3 << 29},
		{"1.5G", 3 << 29},
		{".5K", 512},
		{"1.", 1},
		{"0.0001K", 0}, // rounds to the nearest byte
		{"0.0005K", 1},
		{" 2M ", 2 << 20},
		{"8P", 8 << 50},
		{"9223372036854775807", 1<<63 - 1},
	}
	for _, c := range good {
		got, err := parseSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	bad := []string{"", " ", "-1", "-1G", "G", ".", "1..5G", "1.5.G", "1e9", "1/2", "10X", "10 GBs", "0x10",
		"NaN", "inf", "9223372036854775808", "8192P", "1,5G", "+5"}
	for _, in := range bad {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func TestFormatSize(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1, "1 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{500 << 20, "500 MiB"},
		{10 << 30, "10 GiB"},
		{3 << 29, "1.5 GiB"},
		{1 << 40, "1 TiB"},
		{1<<63 - 1, "8 EiB"},
	}
	for _, c := range cases {
		if got := formatSize(c.in); got != c.want {
			t.Errorf("formatSize(%d) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := formatQuota(0); got != "unlimited" {
		t.Errorf("formatQuota(0) = %q, want unlimited", got)
	}
}

// What formatSize prints for whole units must read back as the same size.
func TestFormatSizeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, n := range []int64{1, 1000, 1024, 500 << 20, 3 << 29, 10 << 30, 1 << 40, 5 << 50} {
		back, err := parseSize(formatSize(n))
		if err != nil || back != n {
			t.Errorf("parseSize(formatSize(%d) = %q) = %d, %v", n, formatSize(n), back, err)
		}
	}
}

func TestParseLifetime(t *testing.T) {
	t.Parallel()
	good := map[string]time.Duration{"720h": 720 * time.Hour, "90m": 90 * time.Minute, "30d": 30 * 24 * time.Hour, "1d": 24 * time.Hour}
	for in, want := range good {
		if got, err := parseLifetime(in); err != nil || got != want {
			t.Errorf("parseLifetime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1h", "0d", "-3d", "xd", "1.5d", "forever", "10"} {
		if got, err := parseLifetime(in); err == nil {
			t.Errorf("parseLifetime(%q) = %v, want an error", in, got)
		}
	}
}

func TestParseTime(t *testing.T) {
	t.Parallel()
	got, err := parseTime("2026-01-02")
	if err != nil || !got.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("parseTime(date) = %v, %v", got, err)
	}
	got, err = parseTime("2026-01-02T15:04:05+01:00")
	if err != nil || !got.Equal(time.Date(2026, 1, 2, 14, 4, 5, 0, time.UTC)) {
		t.Errorf("parseTime(RFC 3339) = %v, %v", got, err)
	}
	for _, in := range []string{"", "yesterday", "2026-13-01", "02/01/2026"} {
		if _, err := parseTime(in); err == nil {
			t.Errorf("parseTime(%q): want an error", in)
		}
	}
}

func TestPermute(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Bool("admin", false, "")
	fs.String("quota", "", "")
	cases := []struct {
		in, want []string
	}{
		{[]string{"alice"}, []string{"--", "alice"}},
		{[]string{"alice", "--admin"}, []string{"--admin", "--", "alice"}},
		{[]string{"alice", "--quota", "5G", "--admin"}, []string{"--quota", "5G", "--admin", "--", "alice"}},
		{[]string{"-quota=5G", "alice", "bob"}, []string{"-quota=5G", "--", "alice", "bob"}},
		{[]string{"--admin=false", "alice"}, []string{"--admin=false", "--", "alice"}},
		{[]string{"--unknown", "alice"}, []string{"--unknown", "--", "alice"}},
		{[]string{"alice", "--", "--admin"}, []string{"--", "alice", "--admin"}},
		{[]string{"-", "alice"}, []string{"--", "-", "alice"}},
		{[]string{"alice", "--quota"}, []string{"--quota", "--", "alice"}},
		{[]string{"alice", "-5"}, []string{"--", "alice", "-5"}},
	}
	for _, c := range cases {
		if got := permute(fs, c.in); !slices.Equal(got, c.want) {
			t.Errorf("permute(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"plain/path.txt":      "plain/path.txt",
		"Grüße/日本":            "Grüße/日本",
		"evil\x1b[2Jname":     `evil\x1b[2Jname`,
		"two\nlines":          `two\nlines`,
		"tab\there":           `tab\there`,
		"bad\xffutf8":         `bad\xffutf8`,
		"c1\u009bcontrol":     `c1\u009bcontrol`,
		"line\u2028separator": `line\u2028separator`,
	}
	for in, want := range cases {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
