// Package tripwire raises the alarm on exfiltration: a download volume or rate above a
// limit or far above the account's own baseline, a read or listing of a canary file,
// and changes that widen access (a new administrator, a token for one, a wider grant).
// Each alert is a row of the alerts table, an audit record, and a message to every
// Notifier; a tripwire may also throttle the download or suspend the account pending an
// administrator's review (docs/tripwires.md).
//
// Packages files and accounts call it, once per download, listing or change; a nil
// *Service does nothing, so that they work unchanged without tripwires.
package tripwire

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Kind names what fired.
type Kind string

// The tripwires.
const (
	Canary  Kind = "canary"  // a canary file was read or listed
	Volume  Kind = "volume"  // a download limit (bytes a day, files an hour) was passed
	Anomaly Kind = "anomaly" // downloads today are far above the account's baseline
	Admin   Kind = "admin"   // an administrator account was created or a user promoted
	Token   Kind = "token"   // an API token was issued for an administrator
	Grant   Kind = "grant"   // a grant widened access, or a member joined a group with grants
)

// Action is what a tripwire does besides alerting.
type Action string

// The actions, from mildest to strongest.
const (
	Alert    Action = "alert"    // alert only
	Throttle Action = "throttle" // alert and slow the download to Policy.ThrottleRate
	Suspend  Action = "suspend"  // alert, refuse the download and suspend the account
)

// ParseAction reads an action as configured. Errors: Invalid.
func ParseAction(s string) (Action, error) {
	switch a := Action(s); a {
	case Alert, Throttle, Suspend:
		return a, nil
	}
	return "", errs.E(errs.Invalid, fmt.Sprintf("tripwire action %q: use alert, throttle or suspend", s))
}

// Policy is the limits and the action of each tripwire. A zero limit is off.
type Policy struct {
	UserBytesPerDay    int64 // per account, per UTC day
	UserFilesPerHour   int64 // per account
	GlobalBytesPerDay  int64 // all accounts together
	GlobalFilesPerHour int64
	OnLimit            Action

	// An account's downloads today above AnomalyFactor times its baseline fire Anomaly.
	// The baseline is the daily mean of the BaselineDays before today, but never below
	// the floors, so that a new or quiet account is not flagged for a normal day.
	AnomalyFactor float64 // 0 = off
	BaselineDays  int
	FloorBytes    int64
	FloorFiles    int64
	OnAnomaly     Action

	OnCanary Action

	ThrottleRate int64 // bytes per second of a throttled download
}

// DefaultPolicy is the policy of a server that configures none: anomalies and canaries
// alert, no fixed limit.
func DefaultPolicy() Policy {
	return Policy{AnomalyFactor: 10, BaselineDays: 14, FloorBytes: 1 << 30, FloorFiles: 500,
		OnLimit: Alert, OnAnomaly: Alert, OnCanary: Alert, ThrottleRate: 1 << 20}
}

// Notifier delivers alerts outside Coffer: a webhook, e-mail. Notify may block; the
// Service calls it off the request path and logs its error.
type Notifier interface {
	Notify(ctx context.Context, a db.Alert) error
}

// Service evaluates the tripwires.
type Service struct {
	db        *db.DB
	audit     *audit.Log
	log       *slog.Logger
	policy    Policy
	notifiers []Notifier
	now       func() time.Time
	sending   sync.WaitGroup
}

// AddNotifier adds n to the notifiers of each alert. Call it before serving.
func (s *Service) AddNotifier(n Notifier) { s.notifiers = append(s.notifiers, n) }

// New returns a Service enforcing policy and notifying notifiers of each alert.
func New(d *db.DB, a *audit.Log, log *slog.Logger, policy Policy, notifiers ...Notifier) *Service {
	return &Service{db: d, audit: a, log: log, policy: policy, notifiers: notifiers, now: time.Now}
}

// SetClock replaces the clock (for tests of baselines over days).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Policy returns the policy in force.
func (s *Service) Policy() Policy { return s.policy }

// Wait waits for the notifications under way (at shutdown, and in tests).
func (s *Service) Wait() { s.sending.Wait() }

// Raise records an alert (its row and an audit record) and notifies. The actor is the
// account that tripped it.
func (s *Service) Raise(ctx context.Context, actor auth.Principal, kind Kind, action Action, path, detail string) error {
	a := db.Alert{At: s.now(), Kind: string(kind), Account: actor.Name, Path: path, Action: string(action), Detail: detail}
	ctx = context.WithoutCancel(ctx)
	err := s.db.Tx(ctx, func(q db.Q) error {
		id, err := q.InsertAlert(ctx, a)
		if err != nil {
			return err
		}
		a.ID = id
		return s.audit.AppendTx(ctx, q, audit.Record{Actor: actor.Name, SourceIP: actor.SourceIP, Protocol: actor.Protocol,
			Action: audit.ActTripwireAlert, Path: path, Target: string(kind), Result: audit.OK,
			Detail: fmt.Sprintf("alert %d, %s: %s", a.ID, action, detail)})
	})
	if err != nil {
		s.log.Error("cannot record a tripwire alert", "kind", kind, "account", actor.Name, "err", err)
		return err
	}
	s.log.Warn("tripwire", "kind", kind, "account", actor.Name, "path", path, "action", action, "detail", detail)
	for _, n := range s.notifiers {
		s.sending.Go(func() {
			if err := n.Notify(ctx, a); err != nil {
				s.log.Error("cannot deliver a tripwire alert", "alert", a.ID, "err", err)
			}
		})
	}
	return nil
}

// suspend suspends actor's account, audited, and returns the error that refuses the
// operation that tripped it.
func (s *Service) suspend(ctx context.Context, actor auth.Principal, why string) error {
	ctx = context.WithoutCancel(ctx)
	err := s.db.Tx(ctx, func(q db.Q) error {
		if err := q.SetSuspended(ctx, actor.UserID, s.now()); err != nil {
			return err
		}
		if _, err := q.DeleteUserWebSessions(ctx, actor.UserID); err != nil {
			return err
		}
		return s.audit.AppendTx(ctx, q, audit.Record{Actor: actor.Name, SourceIP: actor.SourceIP, Protocol: actor.Protocol,
			Action: audit.ActSuspend, Result: audit.OK, Detail: why})
	})
	if err != nil {
		return err
	}
	return errs.E(errs.Unauthenticated, auth.ErrSuspended)
}

// fire raises kind's alert with action and, for Suspend, suspends the account; it
// returns the error that refuses the operation (nil unless suspended).
func (s *Service) fire(ctx context.Context, actor auth.Principal, kind Kind, action Action, path, detail string) error {
	if err := s.Raise(ctx, actor, kind, action, path, detail); err != nil {
		return err
	}
	if action == Suspend && actor.UserID > 0 {
		return s.suspend(ctx, actor, string(kind)+": "+detail)
	}
	return nil
}

// Widened is the hook of package accounts after a change that widened access: a new
// administrator (kind Admin), a token for one (Token), a wider grant or a new member of
// a group with grants (Grant). It alerts; actor is who made the change. The change is
// already committed, so a failure to alert is logged, not returned.
func (s *Service) Widened(ctx context.Context, actor auth.Principal, kind Kind, target, detail string) {
	if s == nil {
		return
	}
	_ = s.Raise(ctx, actor, kind, Alert, target, detail)
}

// SetPolicy replaces the policy. Call it before the server serves (tests change the
// policy of a running test server between requests).
func (s *Service) SetPolicy(p Policy) { s.policy = p }
