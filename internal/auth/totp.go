package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"net/url"
	"strings"
	"time"
)

// TOTP as RFC 6238 specifies it with the parameters every authenticator app supports:
// HMAC-SHA-1, 6 digits, 30-second steps counted from the Unix epoch. A code is accepted for
// the current step and one step either side (clock skew), and only for a step later than
// the last one accepted, so that each code signs in once.
const (
	totpKeySize = 20 // bytes: RFC 4226's recommended 160 bits
	totpDigits  = 6
	totpPeriod  = 30 // seconds
	totpSkew    = 1  // steps accepted either side of now
	totpIssuer  = "Coffer"

	// purposeTOTP separates the TOTP key's seal from other sealed secrets.
	purposeTOTP = "totp"
)

// totpB32 is how keys are shown to people and apps: upper-case base32 without padding.
var totpB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// TOTPCode returns the 6-digit RFC 6238 code of key at t.
func TOTPCode(key []byte, t time.Time) string {
	return hotp(key, uint64(totpStep(t)), totpDigits)
}

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// hotp is RFC 4226's HOTP with HMAC-SHA-1 and dynamic truncation to digits decimal digits.
func hotp(key []byte, counter uint64, digits int) string {
	m := hmac.New(sha1.New, key)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	v %= mod
	out := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return string(out)
}

// matchTOTP returns the step within the skew of now whose code is code and which is later
// than lastStep, checking every candidate in constant time.
func matchTOTP(key []byte, code string, now time.Time, lastStep int64) (int64, bool) {
	cur := totpStep(now)
	var found int64
	ok := false
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		eq := subtle.ConstantTimeCompare([]byte(hotp(key, uint64(step), totpDigits)), []byte(code))
		if eq == 1 && step > lastStep && !ok {
			found, ok = step, true
		}
	}
	return found, ok
}

// otpauthURI is the Key Uri Format that authenticator apps read from a QR code:
// otpauth://totp/Coffer:NAME?secret=...&issuer=Coffer&algorithm=SHA1&digits=6&period=30
func otpauthURI(name string, key []byte) string {
	v := url.Values{}
	v.Set("secret", totpB32.EncodeToString(key))
	v.Set("issuer", totpIssuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	// Some apps read '+' in the label as a space, so it is escaped too.
	label := strings.ReplaceAll(url.PathEscape(totpIssuer+":"+name), "+", "%2B")
	return "otpauth://totp/" + label + "?" + v.Encode()
}

// isTOTPCode reports whether code has the form of a TOTP code (6 digits).
func isTOTPCode(code string) bool {
	if len(code) != totpDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// Recovery codes, version 1: 16 characters of lower-case base32 (80 random bits), shown
// in four groups of four ("abcd-efgh-ijkl-mnop"). They are typed back with or without
// the dashes, in either case. Only SHA-256("coffer recovery v1" || 0x00 || the 16
// characters) is stored: with 80 bits of entropy, a fast hash is enough.
const (
	recoveryCount  = 10
	recoveryLen    = 16
	recoveryDomain = "coffer recovery v1\x00"
)

var recoveryB32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRecoveryCodes returns n fresh codes as shown to the user and their hashes.
func newRecoveryCodes(n int) (codes []string, hashes [][]byte) {
	for range n {
		var b [10]byte
		rand.Read(b[:])
		s := recoveryB32.EncodeToString(b[:])
		codes = append(codes, s[0:4]+"-"+s[4:8]+"-"+s[8:12]+"-"+s[12:16])
		hashes = append(hashes, recoveryHash(s))
	}
	return codes, hashes
}

// normalRecoveryCode returns code without dashes and spaces, in lower case, and whether it
// then has the form of a recovery code.
func normalRecoveryCode(code string) (string, bool) {
	s := strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
	if len(s) != recoveryLen {
		return "", false
	}
	if _, err := recoveryB32.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

func recoveryHash(normal string) []byte {
	sum := sha256.Sum256([]byte(recoveryDomain + normal))
	return sum[:]
}
