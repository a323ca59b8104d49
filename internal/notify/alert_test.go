package notify_test

import (
	"context"
	"strings"
	"testing"

	"github.com/coffer-mft/coffer/internal/accounts"
)

// TestTripwireAlertMailed: an alert (here: a new administrator) reaches every enabled
// administrator who has a notification address, and nobody else.
func TestTripwireAlertMailed(t *testing.T) {
	e, mp := mailEnv(t)
	setEmail(t, e, "admin", "security@example.org")
	e.User(t, "plain", 0)
	setEmail(t, e, "plain", "plain@example.org")
	if _, _, err := e.Core.Accounts.CreateUser(context.Background(), accounts.LocalAdmin("ops"), accounts.NewUser{Name: "root2", Password: "a long enough password", Admin: true}); err != nil {
		t.Fatal(err)
	}
	e.Core.Tripwires.Wait() // alerts notify in the background
	n, err := e.Core.Mail.Deliver(context.Background())
	if err != nil || n == 0 {
		t.Fatalf("delivered %d, %v", n, err)
	}
	var got int
	for _, m := range mp.Messages(t) {
		if m.To[0].Address == "plain@example.org" {
			t.Errorf("a user who is not an administrator got %q", m.Subject)
		}
		if m.To[0].Address == "security@example.org" && strings.Contains(m.Subject, "Coffer alert: admin") && strings.Contains(m.Text, "root2") {
			got++
		}
	}
	if got != 1 {
		t.Fatalf("%d alert mails to the administrator, want 1: %+v", got, mp.Messages(t))
	}
}
