package server

import (
	"context"
	"strings"

	"github.com/coffer-mft/coffer/internal/errs"
)

// The nodes of a cluster must present the same TLS certificate and SSH host keys, or
// clients that the balancer sends to another node see a changed certificate or host key
// (SSH clients refuse to connect). That configuration is shared by the administrator, not
// by Coffer; so that a mistake shows at once, each node records the fingerprints it
// presents in the database when it starts listening, and warns when the node that started
// before it recorded others. (The last one to start wins: after a deliberate change on
// every node, only the first node to restart warns.)
const (
	sharedTLS     = "node.tls-certificate"
	sharedSSHKeys = "node.ssh-host-keys"
)

// checkShared records this node's fingerprint of what (a setting above) and returns a
// warning, or "", when the previous node recorded another.
func (c *Core) checkShared(ctx context.Context, what, fingerprint string) string {
	q := c.DB.Q()
	node := c.Config.NodeName()
	var warning string
	prev, err := q.Setting(ctx, what)
	switch {
	case err == nil:
		prevNode, prevFP, _ := strings.Cut(prev, "\n")
		if prevFP != fingerprint {
			warning = "node " + prevNode + " presents a different " + sharedName(what) + " (" + prevFP + ") than this node " + node + " (" + fingerprint + ")"
		}
	case !errs.Is(errs.NotFound, err):
		c.Log.Warn("cannot compare this node's "+sharedName(what)+" with the other nodes'", "err", err)
		return ""
	}
	if err := q.PutSetting(ctx, what, node+"\n"+fingerprint); err != nil {
		c.Log.Warn("cannot record this node's "+sharedName(what), "err", err)
	}
	return warning
}

func sharedName(what string) string {
	if what == sharedTLS {
		return "TLS certificate"
	}
	return "set of SSH host keys"
}
