package main

import (
	"context"
	"testing"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/defender"
)

// TestBanCLI lists a ban the defender made and lifts it; the lift is audited.
func TestBanCLI(t *testing.T) {
	c := newCLI(t, "")
	core := c.core()
	p := core.Defender.Policy()
	for range p.Threshold / p.Weights[defender.BadToken] {
		if err := core.Defender.Record(context.Background(), defender.Event{Kind: defender.BadToken, IP: "192.0.2.77", Protocol: audit.HTTPS}); err != nil {
			t.Fatal(err)
		}
	}
	c.script([]step{
		{args: a("ban", "list"), out: []string{"ADDRESS UNTIL BAN", "192.0.2.77", "token.bad"}},
		{args: a("ban", "lift", "192.0.2.77"), out: []string{"lifted the ban of 192.0.2.77"}},
		{args: a("ban", "lift", "192.0.2.77"), code: exitFailure, errOut: []string{"not banned"}},
		{args: a("ban", "lift", "nowhere"), code: exitUsage, errOut: []string{"IPv4 or IPv6"}},
		{args: a("ban"), code: exitUsage},
	})
	_, stdout, _ := c.run("", "ban", "list")
	if columns.ReplaceAllString(stdout, " ") != "ADDRESS UNTIL BAN SINCE REASON\n" {
		t.Errorf("ban list after the lift: %q", stdout)
	}
	recs, err := core.DB.Q().AuditQuery(context.Background(), db.AuditFilter{Action: audit.ActUnban}, 10)
	if err != nil || len(recs) != 1 || recs[0].Path != "ip:192.0.2.77" || recs[0].Protocol != audit.CLI {
		t.Fatalf("unban records: %+v %v", recs, err)
	}
}
