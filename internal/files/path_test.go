package files_test

import (
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

func TestParsePathRejects(t *testing.T) {
	t.Parallel()
	name255 := strings.Repeat("n", files.MaxNameBytes)
	// 16 components of 255 bytes, each after a slash: exactly MaxPathBytes.
	path4096 := strings.Repeat("/"+name255, 16)
	cases := []struct{ name, path string }{
		{"dot-dot", ".."},
		{"right-to-left override", "invoice\u202efdp.exe"},
		{"left-to-right embedding", "a\u202ab"},
		{"first strong isolate", "report\u2068.pdf"},
		{"pop directional isolate", "x\u2069"},
		{"dot-dot inside", "a/../b"},
		{"dot-dot at the end", "/a/.."},
		{"dot-dot after root", "/../etc/passwd"},
		{"dot first", "./a"},
		{"dot last", "a/."},
		{"dot alone", "."},
		{"empty component", "a//b"},
		{"two slashes", "//"},
		{"leading double slash", "//a"},
		{"two trailing slashes", "a//"},
		{"backslash", `a\b`},
		{"backslash dot-dot", `..\..\x`},
		{"NUL", "a\x00b"},
		{"control", "\x01"},
		{"newline", "a\nb"},
		{"DEL", "a\x7fb"},
		{"C1 control", "a\u0085b"},
		{"invalid UTF-8", "\xff"},
		{"truncated UTF-8", "a\xe6\x97"},
		{"overlong slash", "a\xc0\xafb"},
		{"256-byte name", strings.Repeat("n", files.MaxNameBytes+1)},
		{"4097-byte path", path4096 + "x"},
		{"huge path", strings.Repeat("a/", 1<<16)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			comps, err := files.ParsePath(c.path)
			if !errs.Is(errs.Invalid, err) {
				t.Errorf("ParsePath(%q) = %q, %v; want Invalid", c.path, comps, err)
			}
		})
	}
}

func TestParsePathAccepts(t *testing.T) {
	t.Parallel()
	name255 := strings.Repeat("n", files.MaxNameBytes)
	path4096 := strings.Repeat("/"+name255, 16)
	cases := []struct {
		path string
		want []string
	}{
		{"", nil},
		{"/", nil},
		{"a", []string{"a"}},
		{"/a", []string{"a"}},
		{"a/", []string{"a"}},
		{"/a/b/", []string{"a", "b"}},
		{"a b", []string{"a b"}},
		{"تقرير 2026.pdf", []string{"تقرير 2026.pdf"}},  // right-to-left scripts are fine;
		{"דוח/סיכום.csv", []string{"דוח", "סיכום.csv"}}, // only the controls are refused
		{" lead and trail ", []string{" lead and trail "}},
		{"日本語.txt", []string{"日本語.txt"}},
		{"<img src=x onerror=alert(1)>.txt", []string{"<img src=x onerror=alert(1)>.txt"}},
		{"%2e%2e", []string{"%2e%2e"}}, // a literal name: paths are never URL-decoded here
		{"%2e%2e/%2f", []string{"%2e%2e", "%2f"}},
		{"...", []string{"..."}},
		{".hidden", []string{".hidden"}},
		{"a..b", []string{"a..b"}},
		{"'; DROP TABLE entries; --", []string{"'; DROP TABLE entries; --"}},
		{name255, []string{name255}},
		{path4096, slices.Repeat([]string{name255}, 16)},
	}
	for _, c := range cases {
		comps, err := files.ParsePath(c.path)
		if err != nil || !slices.Equal(comps, c.want) {
			t.Errorf("ParsePath(%.40q) = %q, %v; want %q", c.path, comps, err, c.want)
		}
	}
}

func TestJoin(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		comps []string
		want  string
	}{{nil, "/"}, {[]string{"a"}, "/a"}, {[]string{"a", "b c"}, "/a/b c"}} {
		if got := files.Join(c.comps...); got != c.want {
			t.Errorf("Join(%q) = %q, want %q", c.comps, got, c.want)
		}
	}
}

// FuzzParsePath checks that whatever ParsePath accepts is a list of clean names that
// Join turns back into a path that parses to the same list.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"", "/", "a/b", "/a/b/", "..", "a//b", `a\b`, "a\x00b", "\xff", "日本語", "%2e%2e", "a/./b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		comps, err := files.ParsePath(p)
		if err != nil {
			if !errs.Is(errs.Invalid, err) {
				t.Fatalf("ParsePath(%q): error of kind %q, want Invalid: %v", p, errs.KindOf(err), err)
			}
			return
		}
		if len(p) > files.MaxPathBytes || !utf8.ValidString(p) {
			t.Fatalf("ParsePath(%q) accepted an over-long or invalid path", p)
		}
		for _, c := range comps {
			if c == "" || c == "." || c == ".." || len(c) > files.MaxNameBytes || strings.ContainsAny(c, "/\\") {
				t.Fatalf("ParsePath(%q) returned the bad component %q", p, c)
			}
			for _, r := range c {
				if unicode.IsControl(r) {
					t.Fatalf("ParsePath(%q) returned a control character in %q", p, c)
				}
			}
			if err := files.CheckName(c); err != nil {
				t.Fatalf("ParsePath(%q) returned %q, which CheckName refuses: %v", p, c, err)
			}
		}
		again, err := files.ParsePath(files.Join(comps...))
		if err != nil || !slices.Equal(again, comps) {
			t.Fatalf("ParsePath(Join(%q)) = %q, %v", comps, again, err)
		}
	})
}
