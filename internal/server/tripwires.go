package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/notify"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// alertMail e-mails each tripwire alert to every enabled administrator who has a
// notification address (coffer user email), through the outbox: a mail server outage
// delays the alert but does not lose it.
type alertMail struct {
	db  *db.DB
	out *notify.Outbox
}

func (m alertMail) Notify(ctx context.Context, a db.Alert) error {
	to, err := m.db.Q().AdminEmails(ctx)
	if err != nil {
		return err
	}
	subject := "Coffer alert: " + a.Kind
	if a.Account != "" {
		subject += " by " + a.Account
	}
	text := fmt.Sprintf("A tripwire fired on this Coffer server.\n\nWhat:    %s\nAccount: %s\nPath:    %s\nAction:  %s\nTime:    %s\n\n%s\n\n"+
		"Review it under Administration → Alerts, where you can acknowledge it and lift a suspension (docs/tripwires.md).\n",
		a.Kind, a.Account, a.Path, a.Action, a.At.UTC().Format(time.RFC1123), a.Detail)
	for _, addr := range to {
		if err := m.out.Send(ctx, addr, subject, text, ""); err != nil {
			return err
		}
	}
	return nil
}

// tripwirePolicy builds the tripwires' policy and notifiers from the configuration.
// E-mail (alertMail) is added once the outbox exists.
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
