package api_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/testenv"
)

// route is one endpoint: a method and a ServeMux-style pattern below /api/v1, with
// {path} standing for the rest of the URL path of /files and /dirs.
type route struct{ method, pattern string }

func (r route) String() string { return r.method + " " + r.pattern }

var (
	muxRouteRE = regexp.MustCompile(`m\.Handle(?:Func)?\("([A-Z]+) "\+(Prefix|a)\+"([^"]*)"`)
	allowRE    = regexp.MustCompile(`(?s)func \(s \*Server\) (fileHandler|dirHandler)\(.*?"Allow", "([^"]+)"`)
)

// sourceRoutes reads the routes out of the package's source: those registered on the
// ServeMux (api.go, admin.go, keys.go, parcels.go) and the methods the /files and /dirs handlers allow
// (files.go), and the tus routes (tus.go, parceltus.go). A route added there is thereby checked by the tests that use this list.
func sourceRoutes(t *testing.T) []route {
	t.Helper()
	var out []route
	for _, file := range []string{"api.go", "admin.go", "keys.go", "tus.go", "parcels.go", "parceltus.go"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range muxRouteRE.FindAllStringSubmatch(string(src), -1) {
			base := ""
			if m[2] == "a" {
				base = "/admin"
			}
			out = append(out, route{m[1], base + m[3]})
		}
	}
	src, err := os.ReadFile("files.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range allowRE.FindAllStringSubmatch(string(src), -1) {
		pattern := map[string]string{"fileHandler": "/files/{path}", "dirHandler": "/dirs/{path}"}[m[1]]
		for _, method := range strings.Split(m[2], ", ") {
			out = append(out, route{method, pattern})
		}
	}
	if len(out) < 30 {
		t.Fatalf("found only %d routes in the source: has the way routes are registered changed? %v", len(out), out)
	}
	return out
}

// TestRoutesDocumented checks that openapi.json documents exactly the routes the
// server has, and that the server serves that very document.
func TestRoutesDocumented(t *testing.T) {
	t.Parallel()
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Servers []struct{ URL string }                `json:"servers"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(file, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") || len(doc.Servers) == 0 || doc.Servers[0].URL != "/api/v1" {
		t.Fatalf("openapi %q, servers %v: want 3.1.x served at /api/v1", doc.OpenAPI, doc.Servers)
	}
	methods := []string{"get", "head", "put", "post", "patch", "delete", "options"}
	documented := map[route]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(methods, key) {
				documented[route{strings.ToUpper(key), path}] = true
			}
		}
	}
	real := map[route]bool{}
	for _, r := range sourceRoutes(t) {
		real[r] = true
		if !documented[r] {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for r := range documented {
		// ServeMux answers HEAD for every GET route.
		if !real[r] && !(r.method == "HEAD" && real[route{"GET", r.pattern}]) {
			t.Errorf("openapi.json documents %s, which the server does not have", r)
		}
	}

	e := testenv.New(t, testenv.Options{})
	resp, body := e.Do(t, testenv.Request{Method: "GET", Path: "/api/v1/openapi.json"})
	wantStatus(t, resp, body, http.StatusOK)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("served with Content-Type %q", ct)
	}
	if !bytes.Equal(body, file) {
		t.Errorf("the served document (%d bytes) differs from openapi.json (%d bytes)", len(body), len(file))
	}
	if !json.Valid(body) {
		t.Error("the served document is not valid JSON")
	}
}

// TestOpenAPIReferences checks that every $ref in openapi.json points at something.
func TestOpenAPIReferences(t *testing.T) {
	t.Parallel()
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(file, &doc); err != nil {
		t.Fatal(err)
	}
	resolve := func(ref string) bool {
		node := doc
		for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
			part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
			m, ok := node.(map[string]any)
			if !ok {
				return false
			}
			if node, ok = m[part]; !ok {
				return false
			}
		}
		return true
	}
	var refs int
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				refs++
				if !strings.HasPrefix(ref, "#/") || !resolve(ref) {
					t.Errorf("$ref %q does not resolve", ref)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if refs == 0 {
		t.Error("no $ref at all: the walk is broken")
	}
}
