package tripwire

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// SignatureHeader carries the webhook body's HMAC-SHA256 under the shared secret, as
// "sha256=" and lower-case hex. The receiver recomputes it over the raw body.
const SignatureHeader = "X-Coffer-Signature"

// Webhook POSTs each alert as JSON to an HTTPS URL, signed with a shared secret. A failed
// delivery (a network error or a status other than 2xx) is tried again, up to Attempts
// times in all, a second apart; each attempt has its own timeout.
type Webhook struct {
	URL      string
	Secret   []byte
	Client   *http.Client // nil: one with a 10-second timeout
	Attempts int          // 0: 3
}

// NewWebhook checks the URL (HTTPS only: alerts name accounts and paths) and the secret.
// Errors: Invalid.
func NewWebhook(rawURL string, secret []byte) (*Webhook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errs.E(errs.Invalid, fmt.Sprintf("tripwire webhook URL %q: it must be an https:// URL", rawURL))
	}
	if len(secret) < 16 {
		return nil, errs.E(errs.Invalid, "tripwire webhook secret: use at least 16 bytes (for example openssl rand -hex 32)")
	}
	return &Webhook{URL: rawURL, Secret: secret}, nil
}

// payload is the JSON body of a webhook call; its fields only grow.
type payload struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Account string    `json:"account"`
	Path    string    `json:"path"`
	Action  string    `json:"action"`
	Detail  string    `json:"detail"`
}

// Sign returns the signature header's value for body.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Notify delivers a.
func (w *Webhook) Notify(ctx context.Context, a db.Alert) error {
	body, err := json.Marshal(payload{ID: a.ID, At: a.At.UTC(), Kind: a.Kind, Account: a.Account, Path: a.Path, Action: a.Action, Detail: a.Detail})
	if err != nil {
		return err
	}
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	attempts := w.Attempts
	if attempts <= 0 {
		attempts = 3
	}
	for i := 1; ; i++ {
		err = w.post(ctx, client, body, a.ID)
		if err == nil || i == attempts {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	if err != nil {
		return fmt.Errorf("webhook %s: alert %d not delivered after %d attempts: %w", w.URL, a.ID, attempts, err)
	}
	return nil
}

func (w *Webhook) post(ctx context.Context, client *http.Client, body []byte, id int64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(SignatureHeader, Sign(w.Secret, body))
	req.Header.Set("X-Coffer-Alert", strconv.FormatInt(id, 10))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}
