package auth

import (
	"errors"
	"testing"

	"github.com/coffer-mft/coffer/internal/errs"
)

// TestAccessLists: lists are checked and made canonical on write, and a client is allowed
// exactly when its address is inside one entry and its protocol is listed.
func TestAccessLists(t *testing.T) {
	for in, want := range map[string]string{
		"":                                    "",
		" 10.1.2.3/8 , 10.0.0.0/8,192.0.2.7":  "10.0.0.0/8,192.0.2.7/32",
		"2001:db8::1/32, ::ffff:10.0.0.0/104": "2001:db8::/32,10.0.0.0/8",
		"::ffff:192.0.2.7":                    "192.0.2.7/32",
	} {
		if got, err := NormalAllowedIPs(in); err != nil || got != want {
			t.Errorf("NormalAllowedIPs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/8,,x", "1.2.3.4/-1"} {
		if _, err := NormalAllowedIPs(bad); !errs.Is(errs.Invalid, err) {
			t.Errorf("NormalAllowedIPs(%q): %v", bad, err)
		}
	}
	if got, err := NormalProtocols(" SFTP,web, sftp"); err != nil || got != "web,sftp" {
		t.Errorf("NormalProtocols: %q %v", got, err)
	}
	if _, err := NormalProtocols("web,ftp"); !errs.Is(errs.Invalid, err) {
		t.Errorf("unknown protocol: %v", err)
	}
	for _, c := range []struct {
		ips, protos, proto, ip string
		want                   error
	}{
		{"", "", ProtoAPI, "203.0.113.9", nil},
		{"10.0.0.0/8", "", ProtoAPI, "10.200.0.1", nil},
		{"10.0.0.0/8", "", ProtoAPI, "::ffff:10.200.0.1", nil},
		{"10.0.0.0/8", "", ProtoAPI, "11.0.0.1", ErrAddressRefused},
		{"10.0.0.0/8,2001:db8::/32", "", ProtoWeb, "2001:db8::5", nil},
		{"10.0.0.0/8", "", ProtoWeb, "", ErrAddressRefused},
		{"", "web,sftp", ProtoAPI, "10.0.0.1", errProtocol[ProtoAPI]},
		{"", "api", ProtoSFTP, "10.0.0.1", errProtocol[ProtoSFTP]},
		{"", "api", ProtoAPI, "10.0.0.1", nil},
	} {
		why, err := access(c.ips, c.protos, c.proto, Client{IP: c.ip})
		if !errors.Is(err, c.want) || (err == nil) != (why == "") {
			t.Errorf("access(%+v) = %q, %v", c, why, err)
		}
		if c.want != nil && AccessRefusal(errs.E(errs.Unauthenticated, err)) == "" {
			t.Errorf("AccessRefusal does not recognise %v", err)
		}
	}
}
