// Package accounts holds the account-management use cases: users, groups, shared
// folders, grants, API tokens, web sessions and two-factor sign-in. Like package files
// for file operations, it is the one door for these changes: it checks that the actor may
// make them and audits each, for the REST API and the CLI alike.
package accounts

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
	"github.com/coffer-mft/coffer/internal/tripwire"
)

// Service implements account management.
type Service struct {
	db    *db.DB
	audit *audit.Log
	auth  *auth.Service
	// defender holds the address bans (nil when none is configured, as in some tests).
	defender *defender.Service
	trip     *tripwire.Service // see SetTripwires; nil: none
}

// SetTripwires makes changes that widen access raise alerts (docs/tripwires.md).
func (s *Service) SetTripwires(t *tripwire.Service) { s.trip = t }

// New returns a Service.
func New(d *db.DB, a *audit.Log, au *auth.Service) *Service {
	return &Service{db: d, audit: a, auth: au}
}

// LocalAdmin is the actor of the command line, which works on the data directory
// directly: whoever can read the data directory and the key file is its administrator.
func LocalAdmin(osUser string) auth.Principal {
	return auth.Principal{UserID: -1, Name: "local:" + osUser, Admin: true, Protocol: audit.CLI, SourceIP: "local"}
}

var (
	userNameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._@+-]{0,127}$`)
	groupNameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	folderNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}[A-Za-z0-9._-]$|^[A-Za-z0-9]$`)
)

// CheckUserName validates a user name.
func CheckUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return errs.E(errs.Invalid, fmt.Sprintf("invalid user name %q: use 1-128 lower-case letters, digits and . _ @ + -, starting with a letter or digit", clip(name)))
	}
	return nil
}

func checkGroupName(name string) error {
	if !groupNameRE.MatchString(name) {
		return errs.E(errs.Invalid, fmt.Sprintf("invalid group name %q: use 1-64 lower-case letters, digits and . _ -, starting with a letter or digit", clip(name)))
	}
	return nil
}

func checkFolderName(name string) error {
	if !folderNameRE.MatchString(name) || files.CheckName(name) != nil {
		return errs.E(errs.Invalid, fmt.Sprintf("invalid folder name %q: use 1-64 letters, digits, spaces and . _ -, not starting or ending with a space", clip(name)))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// admin returns Permission, audited, unless actor may manage accounts.
func (s *Service) admin(ctx context.Context, actor auth.Principal, action, path string) error {
	if authz.ManageAccounts(actor.Subject()) {
		return nil
	}
	rec := record(actor, action, path)
	rec.Result, rec.Detail = audit.Denied, "administrator role required"
	if err := s.audit.Append(context.WithoutCancel(ctx), rec); err != nil {
		return err
	}
	return errs.E(errs.Permission, "only administrators may do this")
}

func record(actor auth.Principal, action, path string) audit.Record {
	return audit.Record{Actor: actor.Name, SourceIP: actor.SourceIP, Protocol: actor.Protocol, Action: action, Path: path, Result: audit.OK}
}

// change runs fn in a transaction with its audit record, auditing a failure instead.
// fn may complete the record (e.g. with the id of what it created).
func (s *Service) change(ctx context.Context, recp *audit.Record, fn func(q db.Q) error) error {
	err := s.db.Tx(ctx, func(q db.Q) error {
		if err := fn(q); err != nil {
			return err
		}
		return s.audit.AppendTx(ctx, q, *recp)
	})
	rec := *recp
	if err != nil {
		rec.Result, rec.Detail = audit.Failed, errs.Detail(err)
		if aerr := s.audit.Append(context.WithoutCancel(ctx), rec); aerr != nil {
			return aerr
		}
	}
	return err
}

// NewUser describes an account to create.
type NewUser struct {
	Name     string
	Password string // empty: a random one is generated and returned
	Admin    bool
	Quota    int64 // bytes, 0 = unlimited
}

// CreateUser creates an account and returns it with the password in effect (the one
// given or a generated one, to be shown once). Errors: Permission, Invalid, Exist.
func (s *Service) CreateUser(ctx context.Context, actor auth.Principal, nu NewUser) (db.User, string, error) {
	const op = errs.Op("accounts.CreateUser")
	if err := s.admin(ctx, actor, audit.ActUserCreate, nu.Name); err != nil {
		return db.User{}, "", errs.E(op, err)
	}
	if err := CheckUserName(nu.Name); err != nil {
		return db.User{}, "", errs.E(op, err)
	}
	if nu.Quota < 0 {
		return db.User{}, "", errs.E(op, errs.Invalid, "quota must not be negative")
	}
	password := nu.Password
	if password == "" {
		password = auth.RandomPassword()
	} else if err := auth.CheckPasswordStrength(password); err != nil {
		return db.User{}, "", errs.E(op, errs.Invalid, err)
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return db.User{}, "", errs.E(op, err)
	}
	rec := record(actor, audit.ActUserCreate, nu.Name)
	rec.Detail = fmt.Sprintf("admin=%v quota=%d", nu.Admin, nu.Quota)
	var u db.User
	err = s.change(ctx, &rec, func(q db.Q) error {
		u, err = q.CreateUser(ctx, db.NewUser{Name: nu.Name, PasswordHash: hash, Admin: nu.Admin, QuotaBytes: nu.Quota})
		if errs.Is(errs.Exist, err) {
			return errs.E(errs.Exist, fmt.Sprintf("a user named %q exists", nu.Name))
		}
		return err
	})
	if err != nil {
		return db.User{}, "", errs.E(op, err)
	}
	if u.Admin {
		s.trip.Widened(ctx, actor, tripwire.Admin, nu.Name, "a new administrator account was created")
	}
	return u, password, nil
}

// User returns an account; users may read their own, administrators any.
func (s *Service) User(ctx context.Context, actor auth.Principal, name string) (db.User, error) {
	if actor.Name != name {
		if err := s.admin(ctx, actor, audit.ActUserUpdate, name); err != nil {
			return db.User{}, err
		}
	}
	u, err := s.db.Q().UserByName(ctx, name)
	if errs.Is(errs.NotFound, err) {
		return u, errs.E(errs.NotFound, fmt.Sprintf("no user named %q", clip(name)))
	}
	return u, err
}

// ListUsers lists accounts in name order after after.
func (s *Service) ListUsers(ctx context.Context, actor auth.Principal, after string, limit int) ([]db.User, error) {
	if err := s.admin(ctx, actor, audit.ActUserUpdate, "*"); err != nil {
		return nil, err
	}
	return s.db.Q().ListUsers(ctx, after, clampLimit(limit))
}

func clampLimit(n int) int {
	if n <= 0 || n > 1000 {
		return 1000
	}
	return n
}

// UserUpdate lists the changes to make; nil fields stay as they are.
type UserUpdate struct {
	Admin         *bool
	Disabled      *bool
	Quota         *int64
	Password      *string
	PasswordLogin *bool   // false: the user signs in with SSH keys (and API tokens) only
	Email         *string // where notifications go (docs/notify.md); "" = none
	AllowedIPs    *string // comma-separated CIDR prefixes the user may sign in from; "" = anywhere
	Protocols     *string // comma-separated subset of web,api,sftp; "" = all
}

// UpdateUser changes an account (administrators only). The last enabled administrator can be neither disabled
// nor demoted, so that the server never loses its last administrator. A new password,
// disabling the account or forbidding password sign-in ends all the user's web sessions.
func (s *Service) UpdateUser(ctx context.Context, actor auth.Principal, name string, up UserUpdate) (db.User, error) {
	return s.updateUser(ctx, actor, name, up, true)
}

// ChangeOwnPassword sets the actor's own password. The caller must have checked the
// current one (the web page does, with auth.Web.ReAuthenticate); it is not offered to API
// tokens, so that a stolen token cannot take the account over. All the user's web
// sessions end.
func (s *Service) ChangeOwnPassword(ctx context.Context, actor auth.Principal, password string) error {
	if actor.UserID == 0 || actor.Name == "" {
		return errs.E(errs.Op("accounts.ChangeOwnPassword"), errs.Permission, "only a signed-in user can change their password")
	}
	_, err := s.updateUser(ctx, actor, actor.Name, UserUpdate{Password: &password}, false)
	return err
}

func (s *Service) updateUser(ctx context.Context, actor auth.Principal, name string, up UserUpdate, needAdmin bool) (db.User, error) {
	const op = errs.Op("accounts.UpdateUser")
	action := audit.ActUserUpdate
	if up.Password != nil && up.Admin == nil && up.Disabled == nil && up.Quota == nil && up.PasswordLogin == nil {
		action = audit.ActUserPassword
	}
	if needAdmin {
		if err := s.admin(ctx, actor, action, name); err != nil {
			return db.User{}, errs.E(op, err)
		}
	}
	var hash string
	if up.Password != nil {
		if err := auth.CheckPasswordStrength(*up.Password); err != nil {
			return db.User{}, errs.E(op, errs.Invalid, err)
		}
		var err error
		if hash, err = auth.HashPassword(*up.Password); err != nil {
			return db.User{}, errs.E(op, err)
		}
	}
	if up.Quota != nil && *up.Quota < 0 {
		return db.User{}, errs.E(op, errs.Invalid, "quota must not be negative")
	}
	if up.Email != nil {
		if err := checkEmail(*up.Email); err != nil {
			return db.User{}, errs.E(op, err)
		}
	}
	if err := normalAccess(&up); err != nil {
		return db.User{}, errs.E(op, err)
	}
	rec := record(actor, action, name)
	rec.Detail = describe(up)
	var u db.User
	var promoted bool
	err := s.change(ctx, &rec, func(q db.Q) error {
		var err error
		if u, err = q.UserByName(ctx, name); err != nil {
			return errs.E(errs.NotFound, fmt.Sprintf("no user named %q", clip(name)))
		}
		promoted = !u.Admin && up.Admin != nil && *up.Admin
		losesAdmin := u.Admin && !u.Disabled && ((up.Admin != nil && !*up.Admin) || (up.Disabled != nil && *up.Disabled))
		if losesAdmin {
			n, err := q.CountActiveAdmins(ctx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return errs.E(errs.Conflict, "this is the last enabled administrator: make another administrator first")
			}
		}
		if up.Admin != nil {
			if err := q.SetAdmin(ctx, u.ID, *up.Admin); err != nil {
				return err
			}
		}
		if up.Disabled != nil {
			if err := q.SetDisabled(ctx, u.ID, *up.Disabled); err != nil {
				return err
			}
		}
		if up.Quota != nil {
			if err := q.SetUserQuota(ctx, u.ID, *up.Quota); err != nil {
				return err
			}
		}
		if up.Password != nil {
			if err := q.SetPassword(ctx, u.ID, hash); err != nil {
				return err
			}
		}
		if up.PasswordLogin != nil {
			if err := q.SetPasswordLogin(ctx, u.ID, *up.PasswordLogin); err != nil {
				return err
			}
		}
		if up.Email != nil {
			if err := q.SetUserEmail(ctx, u.ID, *up.Email); err != nil {
				return err
			}
		}
		if up.AllowedIPs != nil {
			if err := q.SetAllowedIPs(ctx, u.ID, *up.AllowedIPs); err != nil {
				return err
			}
		}
		if up.Protocols != nil {
			if err := q.SetProtocols(ctx, u.ID, *up.Protocols); err != nil {
				return err
			}
		}
		if endsSessions(up) {
			n, err := q.DeleteUserWebSessions(ctx, u.ID)
			if err != nil {
				return err
			}
			if n > 0 {
				rec.Detail += fmt.Sprintf("; %d web sessions ended", n)
			}
		}
		u, err = q.UserByID(ctx, u.ID)
		return err
	})
	if err != nil {
		return db.User{}, errs.E(op, err)
	}
	if promoted {
		s.trip.Widened(ctx, actor, tripwire.Admin, name, "a user was made an administrator")
	}
	return u, nil
}

// normalAccess checks the per-user limits of up and puts them in canonical form. They
// need not end sessions or revoke tokens: every sign-in and every use checks them.
func normalAccess(up *UserUpdate) error {
	if up.AllowedIPs != nil {
		v, err := auth.NormalAllowedIPs(*up.AllowedIPs)
		if err != nil {
			return err
		}
		up.AllowedIPs = &v
	}
	if up.Protocols != nil {
		v, err := auth.NormalProtocols(*up.Protocols)
		if err != nil {
			return err
		}
		up.Protocols = &v
	}
	return nil
}

// endsSessions reports whether up ends all the user's web sessions: a new password (the
// old one may be what leaked), disabling the account, or forbidding password sign-in.
func endsSessions(up UserUpdate) bool {
	return up.Password != nil || (up.Disabled != nil && *up.Disabled) || (up.PasswordLogin != nil && !*up.PasswordLogin)
}

func describe(up UserUpdate) string {
	s := ""
	if up.Admin != nil {
		s += fmt.Sprintf("admin=%v ", *up.Admin)
	}
	if up.Disabled != nil {
		s += fmt.Sprintf("disabled=%v ", *up.Disabled)
	}
	if up.Quota != nil {
		s += fmt.Sprintf("quota=%d ", *up.Quota)
	}
	if up.Password != nil {
		s += "password changed "
	}
	if up.PasswordLogin != nil {
		s += fmt.Sprintf("password_login=%v ", *up.PasswordLogin)
	}
	if up.AllowedIPs != nil {
		s += fmt.Sprintf("allowed_ips=%q ", *up.AllowedIPs)
	}
	if up.Protocols != nil {
		s += fmt.Sprintf("protocols=%q ", *up.Protocols)
	}
	if up.Email != nil {
		s += fmt.Sprintf("email=%q ", *up.Email)
	}
	if s == "" {
		return "no change"
	}
	return s[:len(s)-1]
}

// CreateGroup creates a group. Errors: Permission, Invalid, Exist.
func (s *Service) CreateGroup(ctx context.Context, actor auth.Principal, name string) (db.Group, error) {
	const op = errs.Op("accounts.CreateGroup")
	if err := s.admin(ctx, actor, audit.ActGroupCreate, name); err != nil {
		return db.Group{}, errs.E(op, err)
	}
	if err := checkGroupName(name); err != nil {
		return db.Group{}, errs.E(op, err)
	}
	var g db.Group
	err := s.change(ctx, ptr(record(actor, audit.ActGroupCreate, name)), func(q db.Q) error {
		var err error
		g, err = q.CreateGroup(ctx, name)
		if errs.Is(errs.Exist, err) {
			return errs.E(errs.Exist, fmt.Sprintf("a group named %q exists", name))
		}
		return err
	})
	if err != nil {
		return db.Group{}, errs.E(op, err)
	}
	return g, nil
}

// ListGroups lists groups with their members.
func (s *Service) ListGroups(ctx context.Context, actor auth.Principal, after string, limit int) ([]db.Group, map[string][]string, error) {
	if err := s.admin(ctx, actor, audit.ActGroupCreate, "*"); err != nil {
		return nil, nil, err
	}
	q := s.db.Q()
	gs, err := q.ListGroups(ctx, after, clampLimit(limit))
	if err != nil {
		return nil, nil, err
	}
	members := map[string][]string{}
	for _, g := range gs {
		if members[g.Name], err = q.GroupMembers(ctx, g.ID); err != nil {
			return nil, nil, err
		}
	}
	return gs, members, nil
}

// DeleteGroup deletes a group, its memberships and grants.
func (s *Service) DeleteGroup(ctx context.Context, actor auth.Principal, name string) error {
	const op = errs.Op("accounts.DeleteGroup")
	if err := s.admin(ctx, actor, audit.ActGroupDelete, name); err != nil {
		return errs.E(op, err)
	}
	err := s.change(ctx, ptr(record(actor, audit.ActGroupDelete, name)), func(q db.Q) error {
		g, err := groupByName(ctx, q, name)
		if err != nil {
			return err
		}
		return q.DeleteGroup(ctx, g.ID)
	})
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}

func groupByName(ctx context.Context, q db.Q, name string) (db.Group, error) {
	g, err := q.GroupByName(ctx, name)
	if errs.Is(errs.NotFound, err) {
		return g, errs.E(errs.NotFound, fmt.Sprintf("no group named %q", clip(name)))
	}
	return g, err
}

func userByName(ctx context.Context, q db.Q, name string) (db.User, error) {
	u, err := q.UserByName(ctx, name)
	if errs.Is(errs.NotFound, err) {
		return u, errs.E(errs.NotFound, fmt.Sprintf("no user named %q", clip(name)))
	}
	return u, err
}

func folderByName(ctx context.Context, q db.Q, name string) (db.Folder, error) {
	f, err := q.FolderByName(ctx, name)
	if errs.Is(errs.NotFound, err) {
		return f, errs.E(errs.NotFound, fmt.Sprintf("no shared folder named %q", clip(name)))
	}
	return f, err
}

// SetMember adds (member true) or removes a user from a group.
func (s *Service) SetMember(ctx context.Context, actor auth.Principal, group, user string, member bool) error {
	const op = errs.Op("accounts.SetMember")
	if err := s.admin(ctx, actor, audit.ActGroupMember, group); err != nil {
		return errs.E(op, err)
	}
	rec := record(actor, audit.ActGroupMember, group)
	rec.Target, rec.Detail = user, "added"
	if !member {
		rec.Detail = "removed"
	}
	var widened bool
	err := s.change(ctx, &rec, func(q db.Q) error {
		g, err := groupByName(ctx, q, group)
		if err != nil {
			return err
		}
		u, err := userByName(ctx, q, user)
		if err != nil {
			return err
		}
		if member {
			if widened, err = q.GroupHasGrants(ctx, g.ID); err != nil {
				return err
			}
			return q.AddMember(ctx, g.ID, u.ID)
		}
		if err := q.RemoveMember(ctx, g.ID, u.ID); errs.Is(errs.NotFound, err) {
			return errs.E(errs.NotFound, fmt.Sprintf("%q is not a member of %q", user, group))
		} else {
			return err
		}
	})
	if err != nil {
		return errs.E(op, err)
	}
	if widened {
		s.trip.Widened(ctx, actor, tripwire.Grant, group, fmt.Sprintf("%q joined group %q, which has grants", user, group))
	}
	return nil
}

// CreateFolder creates a shared folder. Errors: Permission, Invalid, Exist.
func (s *Service) CreateFolder(ctx context.Context, actor auth.Principal, name string, quota int64) (db.Folder, error) {
	const op = errs.Op("accounts.CreateFolder")
	if err := s.admin(ctx, actor, audit.ActFolderCreate, name); err != nil {
		return db.Folder{}, errs.E(op, err)
	}
	if err := checkFolderName(name); err != nil {
		return db.Folder{}, errs.E(op, err)
	}
	if quota < 0 {
		return db.Folder{}, errs.E(op, errs.Invalid, "quota must not be negative")
	}
	rec := record(actor, audit.ActFolderCreate, name)
	rec.Detail = fmt.Sprintf("quota=%d", quota)
	var f db.Folder
	err := s.change(ctx, &rec, func(q db.Q) error {
		var err error
		f, err = q.CreateSharedFolder(ctx, name, quota)
		if errs.Is(errs.Exist, err) {
			return errs.E(errs.Exist, fmt.Sprintf("a shared folder named %q exists", name))
		}
		return err
	})
	if err != nil {
		return db.Folder{}, errs.E(op, err)
	}
	return f, nil
}

// ListFolders lists shared folders.
func (s *Service) ListFolders(ctx context.Context, actor auth.Principal, after string, limit int) ([]db.Folder, error) {
	if err := s.admin(ctx, actor, audit.ActFolderUpdate, "*"); err != nil {
		return nil, err
	}
	return s.db.Q().ListFolders(ctx, after, clampLimit(limit))
}

// SetFolderQuota changes a shared folder's quota.
func (s *Service) SetFolderQuota(ctx context.Context, actor auth.Principal, name string, quota int64) error {
	const op = errs.Op("accounts.SetFolderQuota")
	if err := s.admin(ctx, actor, audit.ActFolderUpdate, name); err != nil {
		return errs.E(op, err)
	}
	if quota < 0 {
		return errs.E(op, errs.Invalid, "quota must not be negative")
	}
	rec := record(actor, audit.ActFolderUpdate, name)
	rec.Detail = fmt.Sprintf("quota=%d", quota)
	err := s.change(ctx, &rec, func(q db.Q) error {
		f, err := folderByName(ctx, q, name)
		if err != nil {
			return err
		}
		return q.SetFolderQuota(ctx, f.ID, quota)
	})
	if err != nil {
		return errs.E(op, err)
	}
	return nil
}

// Grantee names who receives a grant: exactly one of User or Group.
type Grantee struct {
	User  string
	Group string
}

func (g Grantee) String() string {
	if g.User != "" {
		return "user:" + g.User
	}
	return "group:" + g.Group
}

// Grant sets (replacing) the permissions of a user or group on a shared folder; perm 0
// revokes the grant.
func (s *Service) Grant(ctx context.Context, actor auth.Principal, folder string, who Grantee, perm authz.Perm) error {
	const op = errs.Op("accounts.Grant")
	action := audit.ActGrantSet
	if perm == 0 {
		action = audit.ActGrantRevoke
	}
	if err := s.admin(ctx, actor, action, folder); err != nil {
		return errs.E(op, err)
	}
	if (who.User == "") == (who.Group == "") {
		return errs.E(op, errs.Invalid, "name exactly one of a user or a group")
	}
	if perm&^authz.All != 0 {
		return errs.E(op, errs.Invalid, "unknown permission bits")
	}
	rec := record(actor, action, folder)
	rec.Target, rec.Detail = who.String(), perm.String()
	var added authz.Perm // what the grant gives that it did not
	err := s.change(ctx, &rec, func(q db.Q) error {
		f, err := folderByName(ctx, q, folder)
		if err != nil {
			return err
		}
		if who.User != "" {
			u, err := userByName(ctx, q, who.User)
			if err != nil {
				return err
			}
			if perm == 0 {
				return notGranted(q.DeleteUserGrant(ctx, f.ID, u.ID), folder, who)
			}
			old, err := q.GrantPerms(ctx, f.ID, u.ID, false)
			if err != nil {
				return err
			}
			added = perm &^ authz.Perm(old)
			return q.PutUserGrant(ctx, f.ID, u.ID, int64(perm))
		}
		g, err := groupByName(ctx, q, who.Group)
		if err != nil {
			return err
		}
		if perm == 0 {
			return notGranted(q.DeleteGroupGrant(ctx, f.ID, g.ID), folder, who)
		}
		old, err := q.GrantPerms(ctx, f.ID, g.ID, true)
		if err != nil {
			return err
		}
		added = perm &^ authz.Perm(old)
		return q.PutGroupGrant(ctx, f.ID, g.ID, int64(perm))
	})
	if err != nil {
		return errs.E(op, err)
	}
	if added != 0 {
		s.trip.Widened(ctx, actor, tripwire.Grant, folder, fmt.Sprintf("%s was granted %s on %q (now %s)", who, added, folder, perm))
	}
	return nil
}

func notGranted(err error, folder string, who Grantee) error {
	if errs.Is(errs.NotFound, err) {
		return errs.E(errs.NotFound, fmt.Sprintf("%s has no grant on %q", who, folder))
	}
	return err
}

// ListGrants lists the grants on one shared folder, or all grants when folder is "".
func (s *Service) ListGrants(ctx context.Context, actor auth.Principal, folder string) ([]db.Grant, error) {
	if err := s.admin(ctx, actor, audit.ActGrantSet, folder); err != nil {
		return nil, err
	}
	q := s.db.Q()
	if folder == "" {
		return q.ListGrants(ctx, 0, 10000)
	}
	f, err := folderByName(ctx, q, folder)
	if err != nil {
		return nil, err
	}
	return q.FolderGrants(ctx, f.ID)
}

// CreateToken issues an API token for user: their own, or anyone's for an administrator.
// The secret is returned once.
func (s *Service) CreateToken(ctx context.Context, actor auth.Principal, user, name string, ttl time.Duration) (string, db.Token, error) {
	const op = errs.Op("accounts.CreateToken")
	if actor.Name != user {
		if err := s.admin(ctx, actor, audit.ActTokenCreate, user); err != nil {
			return "", db.Token{}, errs.E(op, err)
		}
	}
	rec := record(actor, audit.ActTokenCreate, user)
	var secret string
	var tok db.Token
	var forAdmin bool
	err := s.change(ctx, &rec, func(q db.Q) error {
		u, err := userByName(ctx, q, user)
		if err != nil {
			return err
		}
		if u.Disabled {
			return errs.E(errs.Conflict, fmt.Sprintf("user %q is disabled", user))
		}
		forAdmin = u.Admin
		secret, tok, err = s.auth.IssueToken(ctx, q, u.ID, name, ttl)
		rec.Detail = "token " + tok.ID
		return err
	})
	if err != nil {
		return "", db.Token{}, errs.E(op, err)
	}
	if forAdmin {
		s.trip.Widened(ctx, actor, tripwire.Token, user, fmt.Sprintf("API token %s was issued for administrator %q", tok.ID, user))
	}
	return secret, tok, nil
}

// ListTokens lists a user's tokens (never their secrets).
func (s *Service) ListTokens(ctx context.Context, actor auth.Principal, user string) ([]db.Token, error) {
	if actor.Name != user {
		if err := s.admin(ctx, actor, audit.ActTokenCreate, user); err != nil {
			return nil, err
		}
	}
	u, err := userByName(ctx, s.db.Q(), user)
	if err != nil {
		return nil, err
	}
	return s.db.Q().UserTokens(ctx, u.ID)
}

// RevokeToken revokes a token: the owner's own, or anyone's for an administrator.
func (s *Service) RevokeToken(ctx context.Context, actor auth.Principal, id string) error {
	const op = errs.Op("accounts.RevokeToken")
	t, err := s.db.Q().TokenByID(ctx, id)
	if err != nil {
		return errs.E(op, errs.NotFound, fmt.Sprintf("no token %q", clip(id)))
	}
	if t.UserID != actor.UserID {
		if err := s.admin(ctx, actor, audit.ActTokenRevoke, t.UserName); err != nil {
			return errs.E(op, errs.NotFound, fmt.Sprintf("no token %q", clip(id)))
		}
	}
	rec := record(actor, audit.ActTokenRevoke, t.UserName)
	rec.Target = "token " + id
	return s.change(ctx, &rec, func(q db.Q) error { return q.RevokeToken(ctx, id) })
}

// Unlock lifts a lockout of an account ("user") or address ("ip").
func (s *Service) Unlock(ctx context.Context, actor auth.Principal, scope, subject string) error {
	if err := s.admin(ctx, actor, audit.ActLockoutLifted, scope+":"+subject); err != nil {
		return err
	}
	if err := s.auth.Unlock(ctx, scope, subject); err != nil {
		return err
	}
	return s.audit.Append(ctx, record(actor, audit.ActLockoutLifted, scope+":"+subject))
}

// AuditQuery returns audit records matching f, newest first; administrators only.
func (s *Service) AuditQuery(ctx context.Context, actor auth.Principal, f db.AuditFilter, limit int) ([]db.AuditRecord, error) {
	if err := s.admin(ctx, actor, audit.ActAuditView, ""); err != nil {
		return nil, err
	}
	return s.db.Q().AuditQuery(ctx, f, clampLimit(limit))
}

// VerifyAudit verifies the audit chain; administrators only.
func (s *Service) VerifyAudit(ctx context.Context, actor auth.Principal) (audit.Report, error) {
	if err := s.admin(ctx, actor, audit.ActAuditView, "verify"); err != nil {
		return audit.Report{}, err
	}
	return s.audit.Verify(ctx, nil)
}

func ptr(r audit.Record) *audit.Record { return &r }
