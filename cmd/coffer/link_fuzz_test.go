package main

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseLink feeds parseLink what a pasted link could be. Whatever it accepts must
// lead to the recipient API of one link on the host the link names, and nowhere else.
func FuzzParseLink(f *testing.F) {
	for _, seed := range []string{
		"https://coffer.example.org/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"https://coffer.example.org:8443/p/aYbSx-mBsKjsc1IlBFLSkh-ELqpDK7Ye#e1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"https://h/p/..%2F..%2Fapi%2Fv1%2Ffiles%2Fx",
		"https://h/p/%2e%2e",
		"https://user:pw@h/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"https://h/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA?x=1#e1.",
		"http://h/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"https://h/p/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\x00AA",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, link string) {
		r, err := parseLink(link)
		if err != nil {
			if r != nil {
				t.Fatalf("%q: an error and a receiver", link)
			}
			return
		}
		u, _ := url.Parse(link)
		token, ok := strings.CutPrefix(r.base, "https://"+u.Host+"/api/v1/p/")
		if !ok || !validToken(token) || strings.ContainsAny(u.Host, "/?#@\\") {
			t.Fatalf("%q: accepted as %q", link, r.base)
		}
		if b, err := url.Parse(r.base); err != nil || b.Host != u.Host || b.Path != "/api/v1/p/"+token {
			t.Fatalf("%q: the API URL %q does not name that link", link, r.base)
		}
		if r.secret != nil && "#"+r.secret.Fragment() != "#"+strings.TrimPrefix(u.Fragment, "#") {
			t.Fatalf("%q: the key %q is not the fragment's", link, r.secret.Fragment())
		}
	})
}
