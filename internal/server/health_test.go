package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/server"
	"github.com/coffer-mft/coffer/internal/testenv"
)

// unreachable is a blob store whose every request fails as an unreachable S3 does.
type unreachable struct{ server.BlobStore }

func (unreachable) Stat(context.Context, blob.ID) (int64, error) {
	return 0, errs.E(errs.Unavailable, "connection refused")
}

// /healthz answers 200 while the node can serve, and 503 with a problem naming the
// backend that does not answer (and nothing more) when it cannot.
func TestHealth(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(c *server.Core)
		status int
		detail string
	}{
		{"ready", func(*server.Core) {}, http.StatusOK, ""},
		{"database closed", func(c *server.Core) { c.DB.Close() }, http.StatusServiceUnavailable, "its database does not answer"},
		{"blob store unreachable", func(c *server.Core) { c.Blobs = unreachable{c.Blobs} }, http.StatusServiceUnavailable, "its blob store does not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.New(t, testenv.Options{})
			tc.break_(e.Core)
			resp, err := e.Client.Get(e.URL + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Status any }
			var problem struct{ Detail string }
			if resp.StatusCode == http.StatusOK {
				err = json.NewDecoder(resp.Body).Decode(&body)
			} else {
				err = json.NewDecoder(resp.Body).Decode(&problem)
			}
			if err != nil || resp.StatusCode != tc.status {
				t.Fatalf("status %d (%v), want %d", resp.StatusCode, err, tc.status)
			}
			if tc.status == http.StatusOK && body.Status != "ok" {
				t.Errorf("body status %v", body.Status)
			}
			if tc.status != http.StatusOK {
				if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
					t.Errorf("Content-Type %q", ct)
				}
				if !strings.HasSuffix(problem.Detail, tc.detail) || strings.Contains(problem.Detail, "refused") || strings.Contains(problem.Detail, "closed") {
					t.Errorf("detail %q, want one ending %q and no cause", problem.Detail, tc.detail)
				}
			}
		})
	}
}
