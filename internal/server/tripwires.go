package server

import (
	"bytes"
	"fmt"
	"os"

	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// tripwirePolicy builds the tripwires' policy and notifiers from the configuration.
// E-mail alerts are not wired yet: a Notifier of package notify goes here.
func tripwirePolicy(t config.Tripwires) (tripwire.Policy, []tripwire.Notifier, error) {
	p := tripwire.DefaultPolicy()
	if !t.Set {
		return p, nil, nil
	}
	p.UserBytesPerDay, p.UserFilesPerHour = t.UserBytesPerDay, t.UserFilesPerHour
	p.GlobalBytesPerDay, p.GlobalFilesPerHour = t.GlobalBytesPerDay, t.GlobalFilesPerHour
	p.AnomalyFactor, p.ThrottleRate = t.AnomalyFactor, t.ThrottleRate
	for _, a := range []struct {
		flag, value string
		to          *tripwire.Action
	}{{"tripwire-on-limit", t.OnLimit, &p.OnLimit}, {"tripwire-on-anomaly", t.OnAnomaly, &p.OnAnomaly}, {"tripwire-on-canary", t.OnCanary, &p.OnCanary}} {
		act, err := tripwire.ParseAction(a.value)
		if err != nil {
			return p, nil, fmt.Errorf("--%s: %w", a.flag, err)
		}
		*a.to = act
	}
	if p.ThrottleRate <= 0 {
		return p, nil, fmt.Errorf("--tripwire-throttle-rate must be positive")
	}
	if t.Webhook == "" {
		return p, nil, nil
	}
	if t.WebhookSecretFile == "" {
		return p, nil, fmt.Errorf("--tripwire-webhook needs --tripwire-webhook-secret-file: the receiver checks each alert's signature")
	}
	secret, err := os.ReadFile(t.WebhookSecretFile)
	if err != nil {
		return p, nil, fmt.Errorf("cannot read the tripwire webhook secret: %w", err)
	}
	w, err := tripwire.NewWebhook(t.Webhook, bytes.TrimSpace(secret))
	if err != nil {
		return p, nil, err
	}
	return p, []tripwire.Notifier{w}, nil
}
