package auth_test

import (
	"context"
	"errors"
	"testing"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db/dbtest"
	"github.com/coffer-mft/coffer/internal/errs"
)

// TestPasswordAloneRefusedWith2FA: once a user enrolled TOTP, the password alone (SFTP,
// HTTP Basic for API tokens) no longer signs in; it would bypass the second factor.
func TestPasswordAloneRefusedWith2FA(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		f, w := webSetup(t, dsn)
		sftp := auth.Client{IP: "192.0.2.9", Protocol: audit.SFTP}
		if _, err := f.s.Password(ctx, "alice", alicePW, sftp); err != nil {
			t.Fatalf("password before enrolment: %v", err)
		}
		enrol(t, ctx, f, w, signIn(t, ctx, w, "alice", auth.StateComplete))
		_, err := f.s.Password(ctx, "alice", alicePW, sftp)
		wantKind(t, "password after enrolment", errs.Unauthenticated, err)
		if !errors.Is(err, auth.ErrPasswordNeeds2FA) {
			t.Errorf("the refusal does not say why: %v", err)
		}
		recs := auditRecords(t, f, audit.ActLogin)
		if r := recs[0]; r.Result != audit.Denied || r.Actor != "alice" || r.Protocol != audit.SFTP {
			t.Errorf("last login record: %+v", r)
		}
		// The web sign-in still works, and asks for the code.
		signIn(t, ctx, w, "alice", auth.StateSecondFactor)
		// A wrong password is still just a wrong password.
		_, err = f.s.Password(ctx, "alice", "wrong password!", sftp)
		if errors.Is(err, auth.ErrPasswordNeeds2FA) {
			t.Errorf("a wrong password was told apart as right: %v", err)
		}
	})
}
