package server

import (
	"context"
	"time"

	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/errs"
)

// healthTimeout bounds a readiness check: a balancer's check waits for no longer.
const healthTimeout = 2 * time.Second

// Ready checks what a node needs to serve: that the database answers a query and that
// the blob store answers a request (the Stat of a blob that does not exist: "not
// found" is an answer). It returns the name of the first that fails, and why.
func (c *Core) Ready(ctx context.Context) (failed string, err error) {
	if err := c.DB.Ready(ctx); err != nil {
		return "database", err
	}
	if _, err := c.Blobs.Stat(ctx, blob.NewID()); err != nil && !errs.Is(errs.NotFound, err) {
		return "blob store", err
	}
	return "", nil
}
