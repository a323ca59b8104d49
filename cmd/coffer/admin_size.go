package main

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Size units follow GNU coreutils (dd, truncate): K, M, G, T, P and KiB, MiB... are
// powers of 1024; KB, MB, GB... are powers of 1000. Case does not matter. formatSize
// prints IEC units, so what the commands print can be typed back in.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "ki": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mi": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gi": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "ti": 1 << 40, "tib": 1 << 40, "tb": 1e12,
	"p": 1 << 50, "pi": 1 << 50, "pib": 1 << 50, "pb": 1e15,
}

const sizeHelp = "bytes, or a number with a unit: 500M, 10G, 1.5TiB (powers of 1024) or 500MB, 10GB (powers of 1000); 0 or unlimited for no limit"

// parseSize reads a quota such as "500M", "1.5GiB", "1048576" or "unlimited" (0).
// Fractions of a byte are rounded to the nearest byte.
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "unlimited" || t == "none" {
		return 0, nil
	}
	i := 0
	dot := false
	for ; i < len(t); i++ {
		c := t[i]
		if c == '.' && !dot {
			dot = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	mult, ok := sizeUnits[unit]
	if num == "" || num == "." || !ok {
		return 0, fmt.Errorf("bad size %q: use %s", s, sizeHelp)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("bad size %q: use %s", s, sizeHelp)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	// Round half up: add 1/2 and truncate.
	n := new(big.Int).Quo(new(big.Int).Add(new(big.Int).Mul(r.Num(), big.NewInt(2)), r.Denom()), new(big.Int).Mul(r.Denom(), big.NewInt(2)))
	if !n.IsInt64() {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n.Int64(), nil
}

// formatSize prints n bytes for people: "512 B", "1.5 KiB", "10 GiB".
func formatSize(n int64) string {
	const units = "KMGTPE"
	if n < 1024 && n > -1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v := float64(n)
	i := -1
	for math.Abs(v) >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	s := strconv.FormatFloat(v, 'f', 1, 64)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + units[i:i+1] + "iB"
}

// formatQuota is formatSize with 0 meaning no limit.
func formatQuota(n int64) string {
	if n == 0 {
		return "unlimited"
	}
	return formatSize(n)
}

// sizeFlag is a flag.Value holding a size parsed by parseSize.
type sizeFlag struct {
	n   int64
	set bool
}

func (f *sizeFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return formatQuota(f.n)
}

func (f *sizeFlag) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	f.n, f.set = n, true
	return nil
}

// parseTime reads a date (2026-01-02, midnight UTC) or an RFC 3339 time.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q: use a date such as 2026-01-02 (midnight UTC) or an RFC 3339 time such as 2026-01-02T15:04:05+01:00", s)
	}
	return t, nil
}

// parseLifetime reads a token lifetime: a Go duration (720h, 90m) or whole days (30d).
func parseLifetime(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err == nil && n > 0 && n <= 100000 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	} else if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d, nil
	}
	return 0, fmt.Errorf("bad lifetime %q: use hours (720h) or days (30d)", s)
}

// formatTime prints a time for tables: local time to the minute; "-" for none.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}
