package tripwire_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

func TestWebhookSignsAndRetries(t *testing.T) {
	secret := []byte("0123456789abcdef-secret")
	var calls atomic.Int32
	got := make(chan map[string]any, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if calls.Add(1) == 1 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get(tripwire.SignatureHeader) != tripwire.Sign(secret, body) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- m
	}))
	defer srv.Close()
	w, err := tripwire.NewWebhook(srv.URL, secret)
	if err != nil {
		t.Fatal(err)
	}
	w.Client = srv.Client()
	a := db.Alert{ID: 7, At: time.Now(), Kind: "canary", Account: "alice", Path: "/bait", Action: "alert", Detail: "read"}
	if err := w.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	m := <-got
	if m["id"] != float64(7) || m["kind"] != "canary" || m["account"] != "alice" || m["path"] != "/bait" {
		t.Errorf("payload %v", m)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls, want 2 (one refused, one retried)", calls.Load())
	}
}

func TestWebhookGivesUp(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	w, err := tripwire.NewWebhook(srv.URL, []byte("0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	w.Client, w.Attempts = srv.Client(), 2
	err = w.Notify(context.Background(), db.Alert{ID: 1})
	if err == nil || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Errorf("Notify = %v, want a failure after 2 attempts", err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d calls, want 2", calls.Load())
	}
}

func TestNewWebhookRefuses(t *testing.T) {
	for _, c := range []struct{ url, secret string }{
		{"http://example.test/hook", "0123456789abcdef"}, // not HTTPS
		{"https:///hook", "0123456789abcdef"},            // no host
		{"https://example.test/hook", "short"},           // weak secret
	} {
		if _, err := tripwire.NewWebhook(c.url, []byte(c.secret)); err == nil {
			t.Errorf("NewWebhook(%q, %q) accepted", c.url, c.secret)
		}
	}
}
