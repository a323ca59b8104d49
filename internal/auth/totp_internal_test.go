package auth

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// RFC 6238, Appendix B: the SHA-1 test vectors (8 digits, 30-second steps, T0 = 0).
func TestTOTPRFC6238Vectors(t *testing.T) {
	t.Parallel()
	key := []byte("12345678901234567890")
	tests := []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	}
	for _, tt := range tests {
		at := time.Unix(tt.unix, 0)
		if got := hotp(key, uint64(totpStep(at)), 8); got != tt.code {
			t.Errorf("T=%d: %s, want %s", tt.unix, got, tt.code)
		}
		// The 6-digit code is the same value modulo 10^6: the last six digits.
		if got := TOTPCode(key, at); got != tt.code[2:] {
			t.Errorf("T=%d: 6-digit code %s, want %s", tt.unix, got, tt.code[2:])
		}
	}
}

func TestMatchTOTPSkewAndReplay(t *testing.T) {
	t.Parallel()
	key := []byte("12345678901234567890")
	now := time.Unix(1234567890, 0)
	cur := totpStep(now)
	code := func(step int64) string { return hotp(key, uint64(step), 6) }
	tests := []struct {
		name     string
		step     int64 // whose code is given
		lastStep int64
		ok       bool
	}{
		{"current", cur, 0, true},
		{"one step early (the phone is behind)", cur - 1, 0, true},
		{"one step late (the phone is ahead)", cur + 1, 0, true},
		{"two steps early", cur - 2, 0, false},
		{"two steps late", cur + 2, 0, false},
		{"current, already used", cur, cur, false},
		{"previous step after the current was used", cur - 1, cur, false},
		{"next step after the current was used", cur + 1, cur, true},
	}
	for _, tt := range tests {
		step, ok := matchTOTP(key, code(tt.step), now, tt.lastStep)
		if ok != tt.ok || (ok && step != tt.step) {
			t.Errorf("%s: step %d, %v; want %d, %v", tt.name, step, ok, tt.step, tt.ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef", code(cur) + " "} {
		if _, ok := matchTOTP(key, bad, now, 0); ok {
			t.Errorf("code %q accepted", bad)
		}
	}
}

func TestOtpauthURI(t *testing.T) {
	t.Parallel()
	key := []byte("12345678901234567890")
	raw := otpauthURI("bob+ops@example.com", key)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Coffer:bob+ops@example.com" || !strings.Contains(raw, "bob%2Bops") {
		t.Errorf("label of %s", raw)
	}
	want := map[string]string{"secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "issuer": "Coffer", "algorithm": "SHA1", "digits": "6", "period": "30"}
	for k, v := range want {
		if got := u.Query().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestRecoveryCodes(t *testing.T) {
	t.Parallel()
	codes, hashes := newRecoveryCodes(recoveryCount)
	if len(codes) != 10 || len(hashes) != 10 {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 19 || strings.Count(c, "-") != 3 || seen[c] {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
		for _, typed := range []string{c, strings.ToUpper(c), strings.ReplaceAll(c, "-", ""), " " + strings.ReplaceAll(c, "-", " ") + " "} {
			n, ok := normalRecoveryCode(typed)
			if !ok || string(recoveryHash(n)) != string(hashes[i]) {
				t.Errorf("code %q typed as %q is not recognised", c, typed)
			}
		}
	}
	for _, bad := range []string{"", "123456", "abcd-efgh-ijkl-mno", "abcd-efgh-ijkl-mnop-q", "abcd-efgh-ijkl-mn01"} {
		if _, ok := normalRecoveryCode(bad); ok {
			t.Errorf("%q taken for a recovery code", bad)
		}
	}
}

func TestClipUserAgent(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200) // 400 bytes
	got := clipUserAgent(long)
	if len(got) > userAgentMax || !strings.HasPrefix(long, got) || len(got) < userAgentMax-1 {
		t.Errorf("clipped to %d bytes", len(got))
	}
	if got := clipUserAgent("Mozilla/5.0\x00\n\x1b[31m\xff(X11)"); got != "Mozilla/5.0[31m(X11)" {
		t.Errorf("control characters and invalid UTF-8: %q", got)
	}
}
