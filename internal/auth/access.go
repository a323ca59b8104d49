package auth

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/errs"
)

// The protocols a user can be limited to (db.User.Protocols).
const (
	ProtoWeb  = "web"  // the web interface: password sign-in and the session cookie
	ProtoAPI  = "api"  // the REST API: bearer tokens, HTTP Basic token minting, tus
	ProtoSFTP = "sftp" // SFTP: password or SSH key
)

var protocols = []string{ProtoWeb, ProtoAPI, ProtoSFTP}

// NormalAllowedIPs checks a comma-separated list of CIDR prefixes or single addresses
// (e.g. "10.0.0.0/8, 192.0.2.7") and returns it in canonical form ("" = anywhere).
// Errors: Invalid, naming the entry that does not parse.
func NormalAllowedIPs(list string) (string, error) {
	var out []string
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := parsePrefix(f)
		if err != nil {
			return "", errs.E(errs.Invalid, fmt.Sprintf("allowed_ips: %q is neither an address nor a CIDR prefix (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.7)", clip(f)))
		}
		if s := p.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) > 100 {
		return "", errs.E(errs.Invalid, "allowed_ips: at most 100 entries")
	}
	return strings.Join(out, ","), nil
}

func parsePrefix(f string) (netip.Prefix, error) {
	if strings.Contains(f, "/") {
		p, err := netip.ParsePrefix(f)
		if err == nil && p.Addr().Is4In6() && p.Bits() >= 96 {
			// Clients' addresses are compared unmapped: so must the prefix be.
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(f)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// NormalProtocols checks a comma-separated subset of web, api and sftp and returns it in
// canonical order ("" = all). Errors: Invalid, naming the unknown protocol.
func NormalProtocols(list string) (string, error) {
	var set []string
	for f := range strings.SplitSeq(list, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if !slices.Contains(protocols, f) {
			return "", errs.E(errs.Invalid, fmt.Sprintf("protocols: unknown protocol %q: use a comma-separated list of web, api and sftp (empty = all)", clip(f)))
		}
		set = append(set, f)
	}
	var out []string
	for _, p := range protocols {
		if slices.Contains(set, p) {
			out = append(out, p)
		}
	}
	return strings.Join(out, ","), nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// ErrAddressRefused and ErrProtocolRefused are why a user's own limits refuse a sign-in.
var (
	ErrAddressRefused = errors.New("this account may not sign in from this address: ask an administrator to add it to the account's allowed addresses")
	errProtocol       = map[string]error{
		ProtoWeb:  errors.New("this account may not use the web interface"),
		ProtoAPI:  errors.New("this account may not use the API (tokens)"),
		ProtoSFTP: errors.New("this account may not use SFTP"),
	}
)

// access checks a user's limits (allowedIPs, protos: see db.User) for a client using
// proto. It returns "" when allowed, else the reason for the audit log and the error for
// the client. An address that does not parse is refused when a list is set.
func access(allowedIPs, protos, proto string, c Client) (string, error) {
	if protos != "" && !slices.Contains(strings.Split(protos, ","), proto) {
		return "protocol " + proto + " not allowed for this account (allowed: " + protos + ")", errProtocol[proto]
	}
	if allowedIPs == "" {
		return "", nil
	}
	a, err := netip.ParseAddr(c.IP)
	if err == nil {
		a = a.Unmap()
		for f := range strings.SplitSeq(allowedIPs, ",") {
			if p, err := parsePrefix(f); err == nil && p.Contains(a) {
				return "", nil
			}
		}
	}
	return "address " + c.IP + " not in the account's allowed addresses (" + allowedIPs + ")", ErrAddressRefused
}

// refuseAccess returns Unauthenticated, audited, when the user's own limits refuse the
// client. Like a disabled account there, it does not count toward lockout: its callers
// (SSH key, web session) hold a proven credential that cannot be guessed.
func (s *Service) refuseAccess(ctx context.Context, allowedIPs, protos, proto string, c Client, rec audit.Record) error {
	why, err := access(allowedIPs, protos, proto, c)
	if err == nil {
		return nil
	}
	rec.Result = audit.Denied
	rec.Detail += ": " + why
	if aerr := s.audit.Append(context.WithoutCancel(ctx), rec); aerr != nil {
		return aerr
	}
	return errs.E(errs.Unauthenticated, err)
}

// passwordProto is the protocol of a password sign-in outside the web interface.
func passwordProto(c Client) string {
	if c.Protocol == audit.SFTP {
		return ProtoSFTP
	}
	return ProtoAPI
}

// AccessRefusal returns the message of err when the user's own limits (address,
// protocol) refused it, else "": for front-ends that otherwise show a generic message.
func AccessRefusal(err error) string {
	if errors.Is(err, ErrAddressRefused) {
		return ErrAddressRefused.Error()
	}
	for _, e := range errProtocol {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return ""
}
