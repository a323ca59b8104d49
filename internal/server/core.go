// Package server is the composition root: it builds every part of Coffer from a Config,
// runs the listeners, and shuts them down gracefully. Nothing else wires packages together.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/blob"
	"github.com/coffer-mft/coffer/internal/blob/local"
	"github.com/coffer-mft/coffer/internal/blob/s3"
	"github.com/coffer-mft/coffer/internal/config"
	"github.com/coffer-mft/coffer/internal/crypt"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/notify"
	"github.com/coffer-mft/coffer/internal/parcel"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// Core is Coffer without its listeners: what the server and the admin commands share.
type Core struct {
	Config    config.Config
	Log       *slog.Logger
	DB        *db.DB
	Blobs     BlobStore
	Keys      *crypt.Keyring
	KeySource string // where the key-encryption key came from, for messages
	NewKey    bool   // the key was created by this Open
	Audit     *audit.Log
	Auth      *auth.Service
	Web       *auth.Web // browser sign-in and sessions
	Version   string    // shown in the web interface; "dev" unless the command sets it
	Files     *files.Service
	Accounts  *accounts.Service
	Parcels   *parcel.Service
	Mail      *notify.Outbox    // nil: no mail server configured
	Defender  *defender.Service // scores and bans client addresses, for every protocol
	Tripwires *tripwire.Service

	// leftoversAge is how long ago a blob store's temporary file or multipart upload
	// must have been written or started for Maintain to take it for a crash's leftover.
	leftoversAge time.Duration
	// trustedProxies are the load balancers that send PROXY headers (--proxy-protocol).
	trustedProxies []netip.Prefix
}

// Open opens (and on first use initialises) the data directory, the key-encryption key,
// the database and the blob store. env is os.Getenv in production.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, env func(string) string) (*Core, error) {
	c := &Core{Config: cfg, Log: log, Version: "dev", leftoversAge: 24 * time.Hour}
	if err := c.open(ctx, env); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Core) open(ctx context.Context, env func(string) string) error {
	cfg := c.Config
	var err error
	if c.trustedProxies, err = ParseTrustedProxies(cfg.ProxyProtocol); err != nil {
		return errs.E(errs.Invalid, err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("cannot create data directory %q: %w (create it, owned by the user running coffer, or pass --data)", cfg.DataDir, unwrapPath(err))
	}
	if _, err := os.ReadDir(cfg.DataDir); err != nil {
		return fmt.Errorf("cannot read data directory %q: %w (run coffer as the directory's owner or pass --data)", cfg.DataDir, unwrapPath(err))
	}
	if c.DB, err = db.Open(ctx, cfg.DBDSN()); err != nil {
		return err
	}
	if err := c.DB.Migrate(ctx); err != nil {
		return fmt.Errorf("cannot prepare the database %s: %w", c.DB, err)
	}
	if err := c.openKeys(ctx, env); err != nil {
		return err
	}
	if c.Blobs, err = openBlobs(ctx, cfg, env); err != nil {
		return err
	}
	c.Audit = audit.New(c.DB, c.Keys)
	if err := c.Audit.Init(ctx); err != nil {
		return err
	}
	dp := defender.DefaultPolicy()
	dp.Exempt = c.trustedProxies
	if dp.Allow, err = defender.ParseList(cfg.AllowIPs); err != nil {
		return errs.E(errs.Invalid, fmt.Errorf("--allow-ip: %w", err))
	}
	if dp.Deny, err = defender.ParseList(cfg.DenyIPs); err != nil {
		return errs.E(errs.Invalid, fmt.Errorf("--deny-ip: %w", err))
	}
	c.Defender = defender.New(c.DB, c.Audit, dp)
	c.Auth = auth.New(c.DB, c.Audit, auth.DefaultPolicy)
	c.Auth.SetDefender(c.Defender)
	c.Web = auth.NewWeb(c.Auth, c.Keys, auth.DefaultSessionPolicy)
	c.Files = files.New(c.DB, c.Blobs, c.Keys, c.Audit, c.Log)
	c.Files.SetPartialTTL(cfg.PartialTTL)
	c.Files.SetUploadLease(cfg.UploadLease)
	c.Accounts = accounts.New(c.DB, c.Audit, c.Auth)
	c.Accounts.SetDefender(c.Defender)
	policy, notifiers, err := tripwirePolicy(cfg.Tripwires)
	if err != nil {
		return errs.E(errs.Invalid, err)
	}
	c.Tripwires = tripwire.New(c.DB, c.Audit, c.Log, policy, notifiers...)
	c.Files.SetTripwires(c.Tripwires)
	c.Accounts.SetTripwires(c.Tripwires)
	c.Parcels = parcel.New(c.DB, c.Files, c.Audit, c.Keys, c.Log, parcel.DefaultPolicy())
	if err := c.openMail(env); err != nil {
		return err
	}
	if c.Mail != nil {
		c.Tripwires.AddNotifier(alertMail{db: c.DB, out: c.Mail})
	}
	return nil
}

// BlobStore is a blob store as the core holds it: local or S3. Their housekeeping
// differs, and Maintain finds it by type assertion.
type BlobStore interface {
	blob.Store
	Close() error
}

// The housekeeping of each store, which Maintain runs.
type (
	tempCleaner interface {
		CleanTemp(olderThan time.Duration) (int, error)
	}
	staleAborter interface {
		AbortStale(ctx context.Context, olderThan time.Duration) (int, error)
	}
)

var (
	_ BlobStore    = (*local.Store)(nil)
	_ BlobStore    = (*s3.Store)(nil)
	_ tempCleaner  = (*local.Store)(nil)
	_ staleAborter = (*s3.Store)(nil)
)

// openBlobs opens the blob store --blobs names: the local directory DATA/blobs by
// default, else an S3 bucket, with credentials from env.
func openBlobs(ctx context.Context, cfg config.Config, env func(string) string) (BlobStore, error) {
	if cfg.Blobs == "" {
		s, err := local.New(cfg.BlobDir())
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	s3cfg, err := s3.ParseURL(cfg.Blobs)
	if err != nil {
		return nil, errs.E(errs.Invalid, fmt.Errorf("--blobs: %w", err))
	}
	s, err := s3.New(ctx, s3cfg, env)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openKeys finds the key-encryption key and checks it against the database. A database
// that has never seen a key gets a new key file; a database whose files were encrypted
// with another key refuses to start rather than write files nobody could read together.
func (c *Core) openKeys(ctx context.Context, env func(string) string) error {
	q := c.DB.Q()
	known, err := q.KEKCheckIDs(ctx)
	if err != nil {
		return err
	}
	path := c.Config.KEKPath()
	switch inline := env("COFFER_KEK"); {
	case inline != "":
		c.KeySource = "the COFFER_KEK environment variable"
		if c.Keys, err = crypt.ParseKeyring(inline); err != nil {
			return fmt.Errorf("COFFER_KEK: %w", err)
		}
	default:
		c.KeySource = path
		c.Keys, err = crypt.LoadKeyFile(path)
		missing := errors.Is(err, fs.ErrNotExist) || errs.Is(errs.NotFound, err)
		if missing && len(known) == 0 {
			c.Keys, err = crypt.CreateKeyFile(path)
			c.NewKey = true
		} else if missing {
			return fmt.Errorf("the key-encryption key file %s does not exist, but the database holds files encrypted with key %s: restore the key file from your backup (or set COFFER_KEK / --kek-file)", path, strings.Join(known, ", "))
		}
		if err != nil {
			return fmt.Errorf("key-encryption key: %w", err)
		}
	}
	have := map[string]bool{}
	for _, id := range c.Keys.IDs() {
		have[id] = true
	}
	for _, id := range known {
		if !have[id] {
			return fmt.Errorf("the database holds files encrypted with key %s, which %s does not contain: use the right key file (or add the old key to it)", id, c.KeySource)
		}
		want, err := q.KEKCheck(ctx, id)
		if err != nil {
			return err
		}
		got, err := c.Keys.CheckValue(id)
		if err != nil {
			return err
		}
		if string(got) != string(want) {
			return fmt.Errorf("wrong key-encryption key: key %s in %s is not the key this database was set up with; refusing to start (use the right key file)", id, c.KeySource)
		}
	}
	return c.registerKeys(ctx)
}

// registerKeys stores the check values of the keys the database does not know yet. Nodes
// of a cluster register under a lock: when two start at once on an empty database
// without a configured key, each having made a key of its own, the second learns here
// that the first one's key is the database's, and stops.
func (c *Core) registerKeys(ctx context.Context) error {
	err := c.DB.Tx(ctx, func(q db.Q) error {
		if err := q.LockKEKChecks(ctx); err != nil {
			return err
		}
		known, err := q.KEKCheckIDs(ctx)
		if err != nil {
			return err
		}
		if c.NewKey && len(known) > 0 {
			return fmt.Errorf("another node set this database up with key %s while this one started: give every node the same key (copy its key file to %s, or set COFFER_KEK or --kek-file)", strings.Join(known, ", "), c.KeySource)
		}
		for _, id := range c.Keys.IDs() {
			if slices.Contains(known, id) {
				continue
			}
			v, err := c.Keys.CheckValue(id)
			if err != nil {
				return err
			}
			if err := q.PutKEKCheck(ctx, id, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && c.NewKey {
		// The key protects nothing yet: leave no key file that does not fit the database.
		if rerr := os.Remove(c.KeySource); rerr != nil {
			c.Log.Warn("cannot remove the unused key file", "path", c.KeySource, "err", rerr)
		}
	}
	return err
}

// Close releases everything Open acquired.
func (c *Core) Close() error {
	var err error
	if c.Tripwires != nil {
		c.Tripwires.Wait() // alerts under way to a webhook: bounded by its attempts and timeouts
	}
	if c.Blobs != nil {
		err = errors.Join(err, c.Blobs.Close())
	}
	if c.DB != nil {
		err = errors.Join(err, c.DB.Close())
	}
	return err
}

// NewLogger builds the process logger from the config. Logs go to w (stderr).
func NewLogger(cfg config.Config, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", cfg.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch cfg.LogFormat {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", cfg.LogFormat)
}
