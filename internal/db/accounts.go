package db

import (
	"context"
	"time"
)

// User is a user account row joined with its home folder's quota.
type User struct {
	ID            int64
	Name          string
	PasswordHash  string // argon2id PHC string; empty = password login impossible
	Admin         bool
	Disabled      bool
	PasswordLogin bool // false: only SSH keys (and tokens) sign this user in
	HomeFolderID  int64
	QuotaBytes    int64 // of the home folder; 0 = unlimited
	UsedBytes     int64
	Suspended     time.Time // by a tripwire, pending an administrator's review; zero = not
	AllowedIPs    string    // comma-separated CIDR prefixes the user may sign in from; "" = anywhere
	Protocols     string    // comma-separated subset of web,api,sftp the user may use; "" = all
	Created       time.Time
	Updated       time.Time
}

const userColumns = `u.id, u.name, u.password_hash, u.is_admin, u.disabled, u.password_login, u.home_folder_id, f.quota_bytes, f.used_bytes, u.created, u.updated, u.suspended, u.allowed_ips, u.protocols`

const (
	qInsertHomeFolder  = `INSERT INTO folders (name, owner_id, quota_bytes, used_bytes, created) VALUES (NULL, NULL, $1, 0, $2) RETURNING id`
	qInsertUser        = `INSERT INTO users (name, password_hash, is_admin, disabled, home_folder_id, created, updated) VALUES ($1, $2, $3, 0, $4, $5, $5) RETURNING id`
	qSetFolderOwner    = `UPDATE folders SET owner_id = $1 WHERE id = $2`
	qUserByName        = `SELECT ` + userColumns + ` FROM users u JOIN folders f ON f.id = u.home_folder_id WHERE u.name = $1`
	qUserByID          = `SELECT ` + userColumns + ` FROM users u JOIN folders f ON f.id = u.home_folder_id WHERE u.id = $1`
	qListUsers         = `SELECT ` + userColumns + ` FROM users u JOIN folders f ON f.id = u.home_folder_id WHERE u.name > $1 ORDER BY u.name LIMIT $2`
	qSetPassword       = `UPDATE users SET password_hash = $2, updated = $3 WHERE id = $1`
	qSetDisabled       = `UPDATE users SET disabled = $2, updated = $3 WHERE id = $1`
	qSetAdmin          = `UPDATE users SET is_admin = $2, updated = $3 WHERE id = $1`
	qSetAllowedIPs     = `UPDATE users SET allowed_ips = $2, updated = $3 WHERE id = $1`
	qSetProtocols      = `UPDATE users SET protocols = $2, updated = $3 WHERE id = $1`
	qSetUserQuota      = `UPDATE folders SET quota_bytes = $2 WHERE id = (SELECT home_folder_id FROM users WHERE id = $1)`
	qCountAdmins       = `SELECT COUNT(*) FROM users WHERE is_admin = 1 AND disabled = 0`
	qCountUsers        = `SELECT COUNT(*) FROM users`
	qInsertGroup       = `INSERT INTO account_groups (name, created) VALUES ($1, $2) RETURNING id`
	qGroupByName       = `SELECT id, name, created FROM account_groups WHERE name = $1`
	qListGroups        = `SELECT id, name, created FROM account_groups WHERE name > $1 ORDER BY name LIMIT $2`
	qDeleteGroup       = `DELETE FROM account_groups WHERE id = $1`
	qAddMember         = `INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`
	qRemoveMember      = `DELETE FROM group_members WHERE group_id = $1 AND user_id = $2`
	qGroupMembers      = `SELECT u.name FROM group_members m JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 ORDER BY u.name`
	qUserGroupNames    = `SELECT g.name FROM group_members m JOIN account_groups g ON g.id = m.group_id WHERE m.user_id = $1 ORDER BY g.name`
	qInsertSharedFoldr = `INSERT INTO folders (name, owner_id, quota_bytes, used_bytes, created) VALUES ($1, NULL, $2, 0, $3) RETURNING id`
	qFolderByName      = `SELECT id, name, quota_bytes, used_bytes, created FROM folders WHERE name = $1`
	qFolderByID        = `SELECT id, COALESCE(name, ''), quota_bytes, used_bytes, created FROM folders WHERE id = $1`
	qListFolders       = `SELECT id, name, quota_bytes, used_bytes, created FROM folders WHERE name IS NOT NULL AND name > $1 ORDER BY name LIMIT $2`
	qSetFolderQuota    = `UPDATE folders SET quota_bytes = $2 WHERE id = $1`
	qLockFolder        = `UPDATE folders SET used_bytes = used_bytes WHERE id = $1`
	// Charge adds delta to used_bytes unless that would pass a non-zero quota.
	qChargeFolder     = `UPDATE folders SET used_bytes = used_bytes + $2 WHERE id = $1 AND (quota_bytes = 0 OR $2 <= 0 OR used_bytes + $2 <= quota_bytes)`
	qUpsertUserGrant  = `INSERT INTO grants (folder_id, user_id, group_id, perms, created) VALUES ($1, $2, NULL, $3, $4) ON CONFLICT (folder_id, user_id) WHERE user_id IS NOT NULL DO UPDATE SET perms = excluded.perms`
	qUpsertGroupGrant = `INSERT INTO grants (folder_id, user_id, group_id, perms, created) VALUES ($1, NULL, $2, $3, $4) ON CONFLICT (folder_id, group_id) WHERE group_id IS NOT NULL DO UPDATE SET perms = excluded.perms`
	qDeleteUserGrant  = `DELETE FROM grants WHERE folder_id = $1 AND user_id = $2`
	qDeleteGroupGrant = `DELETE FROM grants WHERE folder_id = $1 AND group_id = $2`
	qFolderGrants     = `SELECT g.id, g.folder_id, f.name, COALESCE(u.name, ''), COALESCE(ag.name, ''), g.perms FROM grants g JOIN folders f ON f.id = g.folder_id LEFT JOIN users u ON u.id = g.user_id LEFT JOIN account_groups ag ON ag.id = g.group_id WHERE g.folder_id = $1 ORDER BY g.id`
	qAllGrants        = `SELECT g.id, g.folder_id, f.name, COALESCE(u.name, ''), COALESCE(ag.name, ''), g.perms FROM grants g JOIN folders f ON f.id = g.folder_id LEFT JOIN users u ON u.id = g.user_id LEFT JOIN account_groups ag ON ag.id = g.group_id WHERE g.id > $1 ORDER BY g.id LIMIT $2`
	// The grants that reach a user, directly or through any group.
	qGrantsForUser = `SELECT g.folder_id, f.name, g.perms FROM grants g JOIN folders f ON f.id = g.folder_id WHERE g.user_id = $1 OR g.group_id IN (SELECT group_id FROM group_members WHERE user_id = $1)`
)

// NewUser describes an account to create.
type NewUser struct {
	Name         string
	PasswordHash string
	Admin        bool
	QuotaBytes   int64
}

// CreateUser inserts a user and their home folder. Errors: Exist if the name is taken.
func (q Q) CreateUser(ctx context.Context, nu NewUser) (User, error) {
	now := time.Now()
	var folderID, id int64
	if err := q.q.QueryRowContext(ctx, qInsertHomeFolder, nu.QuotaBytes, micro(now)).Scan(&folderID); err != nil {
		return User{}, q.d.classify(err)
	}
	if err := q.q.QueryRowContext(ctx, qInsertUser, nu.Name, nu.PasswordHash, flag(nu.Admin), folderID, micro(now)).Scan(&id); err != nil {
		return User{}, q.d.classify(err)
	}
	if _, err := q.q.ExecContext(ctx, qSetFolderOwner, id, folderID); err != nil {
		return User{}, q.d.classify(err)
	}
	return q.UserByID(ctx, id)
}

type scanner interface{ Scan(dest ...any) error }

func scanUser(s scanner) (User, error) {
	var u User
	var admin, disabled, pwLogin, created, updated, suspended int64
	err := s.Scan(&u.ID, &u.Name, &u.PasswordHash, &admin, &disabled, &pwLogin, &u.HomeFolderID, &u.QuotaBytes, &u.UsedBytes, &created, &updated, &suspended, &u.AllowedIPs, &u.Protocols)
	u.Admin, u.Disabled, u.PasswordLogin = admin != 0, disabled != 0, pwLogin != 0
	u.Created, u.Updated, u.Suspended = fromMicro(created), fromMicro(updated), fromMicro(suspended)
	return u, err
}

// UserByName returns the user called name. Errors: NotFound.
func (q Q) UserByName(ctx context.Context, name string) (User, error) {
	u, err := scanUser(q.q.QueryRowContext(ctx, qUserByName, name))
	return u, q.d.classify(err)
}

// UserByID returns the user with id. Errors: NotFound.
func (q Q) UserByID(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(q.q.QueryRowContext(ctx, qUserByID, id))
	return u, q.d.classify(err)
}

// ListUsers returns up to limit users whose names sort after after, in name order.
func (q Q) ListUsers(ctx context.Context, after string, limit int) ([]User, error) {
	rows, err := q.q.QueryContext(ctx, qListUsers, after, limit)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, u)
	}
	return out, q.d.classify(rows.Err())
}

func (q Q) execOne(ctx context.Context, query string, args ...any) error {
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return q.d.classify(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return q.d.classify(err)
	}
	if n == 0 {
		return notFound
	}
	return nil
}

// SetPassword stores a new password hash. Errors: NotFound.
func (q Q) SetPassword(ctx context.Context, userID int64, hash string) error {
	return q.execOne(ctx, qSetPassword, userID, hash, micro(time.Now()))
}

// SetDisabled enables or disables a user. Errors: NotFound.
func (q Q) SetDisabled(ctx context.Context, userID int64, disabled bool) error {
	return q.execOne(ctx, qSetDisabled, userID, flag(disabled), micro(time.Now()))
}

// SetAdmin grants or removes the administrator role. Errors: NotFound.
func (q Q) SetAdmin(ctx context.Context, userID int64, admin bool) error {
	return q.execOne(ctx, qSetAdmin, userID, flag(admin), micro(time.Now()))
}

// SetAllowedIPs sets the addresses a user may sign in from (validated by the caller;
// "" = anywhere). Errors: NotFound.
func (q Q) SetAllowedIPs(ctx context.Context, userID int64, list string) error {
	return q.execOne(ctx, qSetAllowedIPs, userID, list, micro(time.Now()))
}

// SetProtocols sets the protocols a user may use (validated by the caller; "" = all).
// Errors: NotFound.
func (q Q) SetProtocols(ctx context.Context, userID int64, list string) error {
	return q.execOne(ctx, qSetProtocols, userID, list, micro(time.Now()))
}

// SetUserQuota sets the quota of a user's home folder (0 = unlimited). Errors: NotFound.
func (q Q) SetUserQuota(ctx context.Context, userID, bytes int64) error {
	return q.execOne(ctx, qSetUserQuota, userID, bytes)
}

// CountActiveAdmins counts enabled administrators.
func (q Q) CountActiveAdmins(ctx context.Context) (int64, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qCountAdmins).Scan(&n)
	return n, q.d.classify(err)
}

// CountUsers counts all accounts.
func (q Q) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qCountUsers).Scan(&n)
	return n, q.d.classify(err)
}

// Group is a named set of users.
type Group struct {
	ID      int64
	Name    string
	Created time.Time
}

// CreateGroup inserts a group. Errors: Exist.
func (q Q) CreateGroup(ctx context.Context, name string) (Group, error) {
	g := Group{Name: name, Created: time.Now().UTC()}
	err := q.q.QueryRowContext(ctx, qInsertGroup, name, micro(g.Created)).Scan(&g.ID)
	return g, q.d.classify(err)
}

func scanGroup(s scanner) (Group, error) {
	var g Group
	var created int64
	err := s.Scan(&g.ID, &g.Name, &created)
	g.Created = fromMicro(created)
	return g, err
}

// GroupByName returns a group. Errors: NotFound.
func (q Q) GroupByName(ctx context.Context, name string) (Group, error) {
	g, err := scanGroup(q.q.QueryRowContext(ctx, qGroupByName, name))
	return g, q.d.classify(err)
}

// ListGroups returns up to limit groups named after after, in name order.
func (q Q) ListGroups(ctx context.Context, after string, limit int) ([]Group, error) {
	rows, err := q.q.QueryContext(ctx, qListGroups, after, limit)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []Group
	for rows.Next() {
		g, err := scanGroup(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, g)
	}
	return out, q.d.classify(rows.Err())
}

// DeleteGroup removes a group, its memberships and its grants. Errors: NotFound.
func (q Q) DeleteGroup(ctx context.Context, id int64) error { return q.execOne(ctx, qDeleteGroup, id) }

// AddMember adds a user to a group; adding an existing member is not an error.
func (q Q) AddMember(ctx context.Context, groupID, userID int64) error {
	_, err := q.q.ExecContext(ctx, qAddMember, groupID, userID)
	return q.d.classify(err)
}

// RemoveMember removes a user from a group. Errors: NotFound if they were not a member.
func (q Q) RemoveMember(ctx context.Context, groupID, userID int64) error {
	return q.execOne(ctx, qRemoveMember, groupID, userID)
}

// GroupMembers lists the names of a group's members.
func (q Q) GroupMembers(ctx context.Context, groupID int64) ([]string, error) {
	return q.strings(ctx, qGroupMembers, groupID)
}

// UserGroups lists the names of the groups a user belongs to.
func (q Q) UserGroups(ctx context.Context, userID int64) ([]string, error) {
	return q.strings(ctx, qUserGroupNames, userID)
}

func (q Q) strings(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, s)
	}
	return out, q.d.classify(rows.Err())
}

// Folder is a storage root: a user's home (Name empty) or a named shared folder.
type Folder struct {
	ID         int64
	Name       string
	QuotaBytes int64
	UsedBytes  int64
	Created    time.Time
}

func scanFolder(s scanner) (Folder, error) {
	var f Folder
	var created int64
	err := s.Scan(&f.ID, &f.Name, &f.QuotaBytes, &f.UsedBytes, &created)
	f.Created = fromMicro(created)
	return f, err
}

// CreateSharedFolder inserts a shared folder. Errors: Exist.
func (q Q) CreateSharedFolder(ctx context.Context, name string, quota int64) (Folder, error) {
	f := Folder{Name: name, QuotaBytes: quota, Created: time.Now().UTC()}
	err := q.q.QueryRowContext(ctx, qInsertSharedFoldr, name, quota, micro(f.Created)).Scan(&f.ID)
	return f, q.d.classify(err)
}

// FolderByName returns a shared folder. Errors: NotFound.
func (q Q) FolderByName(ctx context.Context, name string) (Folder, error) {
	f, err := scanFolder(q.q.QueryRowContext(ctx, qFolderByName, name))
	return f, q.d.classify(err)
}

// FolderByID returns any folder. Errors: NotFound.
func (q Q) FolderByID(ctx context.Context, id int64) (Folder, error) {
	f, err := scanFolder(q.q.QueryRowContext(ctx, qFolderByID, id))
	return f, q.d.classify(err)
}

// ListFolders returns up to limit shared folders named after after, in name order.
func (q Q) ListFolders(ctx context.Context, after string, limit int) ([]Folder, error) {
	rows, err := q.q.QueryContext(ctx, qListFolders, after, limit)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []Folder
	for rows.Next() {
		f, err := scanFolder(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, f)
	}
	return out, q.d.classify(rows.Err())
}

// SetFolderQuota sets a folder's quota (0 = unlimited). Errors: NotFound.
func (q Q) SetFolderQuota(ctx context.Context, folderID, bytes int64) error {
	return q.execOne(ctx, qSetFolderQuota, folderID, bytes)
}

// LockFolder takes the folder row's write lock until the transaction ends, so that
// writers of one folder take turns (PostgreSQL runs at READ COMMITTED). Errors: NotFound.
func (q Q) LockFolder(ctx context.Context, folderID int64) error {
	return q.execOne(ctx, qLockFolder, folderID)
}

// ChargeFolder adds delta bytes (negative to release) to a folder's usage. It reports
// false, changing nothing, when a positive delta would pass the folder's quota.
func (q Q) ChargeFolder(ctx context.Context, folderID, delta int64) (bool, error) {
	res, err := q.q.ExecContext(ctx, qChargeFolder, folderID, delta)
	if err != nil {
		return false, q.d.classify(err)
	}
	n, err := res.RowsAffected()
	return n == 1, q.d.classify(err)
}

// Grant gives the permission bits Perms on a folder to one user or one group.
type Grant struct {
	ID         int64
	FolderID   int64
	FolderName string
	UserName   string // set for a user grant
	GroupName  string // set for a group grant
	Perms      int64
}

// PutUserGrant sets (replacing) a user's permissions on a folder.
func (q Q) PutUserGrant(ctx context.Context, folderID, userID, perms int64) error {
	_, err := q.q.ExecContext(ctx, qUpsertUserGrant, folderID, userID, perms, micro(time.Now()))
	return q.d.classify(err)
}

// PutGroupGrant sets (replacing) a group's permissions on a folder.
func (q Q) PutGroupGrant(ctx context.Context, folderID, groupID, perms int64) error {
	_, err := q.q.ExecContext(ctx, qUpsertGroupGrant, folderID, groupID, perms, micro(time.Now()))
	return q.d.classify(err)
}

// DeleteUserGrant removes a user's grant on a folder. Errors: NotFound.
func (q Q) DeleteUserGrant(ctx context.Context, folderID, userID int64) error {
	return q.execOne(ctx, qDeleteUserGrant, folderID, userID)
}

// DeleteGroupGrant removes a group's grant on a folder. Errors: NotFound.
func (q Q) DeleteGroupGrant(ctx context.Context, folderID, groupID int64) error {
	return q.execOne(ctx, qDeleteGroupGrant, folderID, groupID)
}

func (q Q) grants(ctx context.Context, query string, args ...any) ([]Grant, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		var g Grant
		if err := rows.Scan(&g.ID, &g.FolderID, &g.FolderName, &g.UserName, &g.GroupName, &g.Perms); err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, g)
	}
	return out, q.d.classify(rows.Err())
}

// FolderGrants lists the grants on one folder.
func (q Q) FolderGrants(ctx context.Context, folderID int64) ([]Grant, error) {
	return q.grants(ctx, qFolderGrants, folderID)
}

// ListGrants lists up to limit grants with ids above after.
func (q Q) ListGrants(ctx context.Context, after int64, limit int) ([]Grant, error) {
	return q.grants(ctx, qAllGrants, after, limit)
}

// FolderAccess is one shared folder reachable by a user and the permission bits that
// reach them (from any number of grants: the caller ORs them).
type FolderAccess struct {
	FolderID   int64
	FolderName string
	Perms      int64
}

// GrantsForUser lists the grants that reach a user directly or through groups.
func (q Q) GrantsForUser(ctx context.Context, userID int64) ([]FolderAccess, error) {
	rows, err := q.q.QueryContext(ctx, qGrantsForUser, userID)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []FolderAccess
	for rows.Next() {
		var a FolderAccess
		if err := rows.Scan(&a.FolderID, &a.FolderName, &a.Perms); err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, a)
	}
	return out, q.d.classify(rows.Err())
}
