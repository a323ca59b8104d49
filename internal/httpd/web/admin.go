package web

import (
	"net/http"
	"strconv"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/authz"
	"github.com/coffer-mft/coffer/internal/db"
)

type userRow struct {
	Name, Used, Quota, Created string
	Admin, Disabled            bool
}

type auditRow struct {
	Seq                                   int64
	At, Actor, Action, Path, Result, From string
	Bytes                                 int64
}

type adminData struct {
	Tab, Error, Created, Password string
	Done                          string
	Users                         []userRow
	Require2FAAll                 bool
	Edit                          *userEdit
	Groups                        []groupRow
	Folders                       []folderRow
	UserNames, GroupNames         []string // suggestions for the share form
	Sessions                      []sessionRow
	Bans                          []banRow
	Since                         string // of the dashboard's figures of today
	Today, Now                    []stat
	Records                       []auditRow
	Filter                        db.AuditFilter
	SinceDate, UntilDate          string // the audit filter's dates as typed
	More                          bool   // more records match than are shown
	ExportCSV, ExportJSONL        string // links that export what the filter matches
	ChainOK                       bool
	ChainRecords                  int64
	ChainProblem                  string
	Parcels                       []adminParcelRow // everyone's parcels (admin_parcels.go)
	Search                        string
	Alerts                        []alertRow  // the Alerts tab (alerts.go)
	Canaries                      []canaryRow // the Alerts tab
	AllAlerts                     bool        // the Alerts tab shows acknowledged ones too
}

// adminOnly is signedIn for administrators; others get a plain refusal.
func (s *Server) adminOnly(h func(http.ResponseWriter, *http.Request, auth.Principal)) http.HandlerFunc {
	return s.signedIn(func(w http.ResponseWriter, r *http.Request, p auth.Principal) {
		if !p.Admin {
			s.render(w, "admin", http.StatusForbidden, page{Title: "Administration", Section: "admin", User: &p}, adminData{Tab: "users", Error: "Only administrators may see this page."})
			return
		}
		h(w, r, p)
	})
}

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	s.renderUsers(w, r, p, adminData{}, http.StatusOK)
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, p auth.Principal, d adminData, code int) {
	d.Tab = "users"
	users, err := s.accounts.ListUsers(r.Context(), p, "", 1000)
	if err != nil && d.Error == "" {
		d.Error = userMessage(err, "The users cannot be listed.")
	}
	for _, u := range users {
		row := userRow{Name: u.Name, Admin: u.Admin, Disabled: u.Disabled, Used: formatBytes(u.UsedBytes), Quota: "unlimited", Created: formatTime(u.Created)}
		if u.QuotaBytes > 0 {
			row.Quota = formatBytes(u.QuotaBytes)
		}
		d.Users = append(d.Users, row)
	}
	if set, err := s.accounts.Settings(r.Context(), p); err == nil {
		d.Require2FAAll = set.Require2FA
	}
	s.render(w, "admin", code, page{Title: "Users", Section: "admin", User: &p}, d)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	nu := accounts.NewUser{Name: r.PostFormValue("name"), Password: r.PostFormValue("password"), Admin: r.PostFormValue("admin") == "on"}
	quota, ok := parseGB(r.PostFormValue("quota_gb"))
	if !ok {
		s.renderUsers(w, r, p, adminData{Error: "The quota must be a number of GB, 0 for unlimited."}, http.StatusBadRequest)
		return
	}
	nu.Quota = quota
	u, pw, err := s.accounts.CreateUser(r.Context(), p, nu)
	if err != nil {
		s.renderUsers(w, r, p, adminData{Error: userMessage(err, "The user could not be created.")}, errStatus(err))
		return
	}
	d := adminData{Created: u.Name}
	if nu.Password == "" {
		d.Password = pw
	}
	s.renderUsers(w, r, p, d, http.StatusCreated)
}

type folderRow struct {
	Name, Used, Quota string
	Grants            []string
}

func (s *Server) foldersPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	s.renderFolders(w, r, p, adminData{}, http.StatusOK)
}

func (s *Server) renderFolders(w http.ResponseWriter, r *http.Request, p auth.Principal, d adminData, code int) {
	d.Tab = "folders"
	ctx := r.Context()
	folders, err := s.accounts.ListFolders(ctx, p, "", 1000)
	if err != nil && d.Error == "" {
		d.Error = userMessage(err, "The folders cannot be listed.")
	}
	for _, f := range folders {
		row := folderRow{Name: f.Name, Used: formatBytes(f.UsedBytes), Quota: "unlimited"}
		if f.QuotaBytes > 0 {
			row.Quota = formatBytes(f.QuotaBytes)
		}
		grants, err := s.accounts.ListGrants(ctx, p, f.Name)
		if err == nil {
			for _, g := range grants {
				who := g.UserName
				if g.GroupName != "" {
					who = "group " + g.GroupName
				}
				row.Grants = append(row.Grants, who+": "+authz.Perm(g.Perms).String())
			}
		}
		d.Folders = append(d.Folders, row)
	}
	if users, err := s.accounts.ListUsers(ctx, p, "", 1000); err == nil {
		for _, u := range users {
			if !u.Disabled {
				d.UserNames = append(d.UserNames, u.Name)
			}
		}
	}
	if groups, _, err := s.accounts.ListGroups(ctx, p, "", 1000); err == nil {
		for _, g := range groups {
			d.GroupNames = append(d.GroupNames, g.Name)
		}
	}
	s.render(w, "admin", code, page{Title: "Shared folders", Section: "admin", User: &p}, d)
}

// parseGB reads a quota in GB (decimal), 0 for unlimited.
func parseGB(v string) (int64, bool) {
	if v == "" {
		return 0, true
	}
	gb, err := strconv.ParseFloat(v, 64)
	if err != nil || gb < 0 || gb > 1e9 {
		return 0, false
	}
	return int64(gb * 1e9), true
}

func (s *Server) createFolder(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	quota, ok := parseGB(r.PostFormValue("quota_gb"))
	if !ok {
		s.renderFolders(w, r, p, adminData{Error: "The quota must be a number of GB, 0 for unlimited."}, http.StatusBadRequest)
		return
	}
	f, err := s.accounts.CreateFolder(r.Context(), p, r.PostFormValue("name"), quota)
	if err != nil {
		s.renderFolders(w, r, p, adminData{Error: userMessage(err, "The folder could not be created.")}, errStatus(err))
		return
	}
	s.renderFolders(w, r, p, adminData{Done: "Folder " + f.Name + " created. Now share it with people or groups."}, http.StatusCreated)
}

func (s *Server) setGrant(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if err := r.ParseForm(); err != nil {
		s.renderFolders(w, r, p, adminData{Error: "The form could not be read."}, http.StatusBadRequest)
		return
	}
	who := accounts.Grantee{User: r.PostForm.Get("user"), Group: r.PostForm.Get("group")}
	if (who.User == "") == (who.Group == "") {
		s.renderFolders(w, r, p, adminData{Error: "Name either a user or a group."}, http.StatusBadRequest)
		return
	}
	var perm authz.Perm
	for _, v := range r.PostForm["perm"] {
		pp, err := authz.ParsePerm(v)
		if err != nil {
			s.renderFolders(w, r, p, adminData{Error: err.Error()}, http.StatusBadRequest)
			return
		}
		perm |= pp
	}
	folder := r.PostForm.Get("folder")
	if err := s.accounts.Grant(r.Context(), p, folder, who, perm); err != nil {
		s.renderFolders(w, r, p, adminData{Error: userMessage(err, "The access could not be changed.")}, errStatus(err))
		return
	}
	msg := who.String() + " may now " + perm.String() + " in " + folder + "."
	if perm == 0 {
		msg = who.String() + " no longer has access to " + folder + "."
	}
	s.renderFolders(w, r, p, adminData{Done: msg}, http.StatusOK)
}

func (s *Server) setUserState(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	name, disable := r.PostFormValue("name"), r.PostFormValue("disabled") == "on"
	if _, err := s.accounts.UpdateUser(r.Context(), p, name, accounts.UserUpdate{Disabled: &disable}); err != nil {
		s.renderUsers(w, r, p, adminData{Error: userMessage(err, "The user could not be changed.")}, errStatus(err))
		return
	}
	msg := name + " is enabled again."
	if disable {
		msg = name + " is disabled: they cannot sign in, and their sessions and tokens stop working."
	}
	s.renderUsers(w, r, p, adminData{Done: msg}, http.StatusOK)
}

func (s *Server) resetTOTP(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	name := r.PostFormValue("name")
	if err := s.accounts.ResetTOTP(r.Context(), p, name); err != nil {
		s.renderUsers(w, r, p, adminData{Error: userMessage(err, "Two-step verification could not be reset.")}, errStatus(err))
		return
	}
	s.renderUsers(w, r, p, adminData{Done: "Two-step verification of " + name + " is reset: they set it up again at their next sign-in if it is required."}, http.StatusOK)
}
