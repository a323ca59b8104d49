package web

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coffer-mft/coffer/internal/accounts"
	"github.com/coffer-mft/coffer/internal/audit"
	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

// stat is one figure of the dashboard.
type stat struct {
	Value, Label, Link string
	Warn               bool
}

func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	ctx := r.Context()
	now := time.Now()
	midnight := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, now.Location())
	d := adminData{Tab: "dashboard", Since: midnight.Format("2006-01-02 15:04 MST")}
	o, err := s.accounts.Overview(ctx, p, midnight)
	if err != nil {
		d.Error = userMessage(err, "The figures cannot be read.")
	} else {
		today := url.Values{"since": {midnight.UTC().Format("2006-01-02")}}
		link := func(action string) string {
			v := url.Values{"action": {action}, "since": today["since"]}
			return "/admin/audit?" + v.Encode()
		}
		d.Today = []stat{
			{Value: strconv.FormatInt(o.Uploads, 10), Label: "uploads · " + formatBytes(o.UploadedBytes), Link: link(audit.ActFileUpload)},
			{Value: strconv.FormatInt(o.Downloads, 10), Label: "downloads · " + formatBytes(o.DownloadBytes), Link: link(audit.ActFileDownload)},
			{Value: strconv.FormatInt(o.FailedTransfers, 10), Label: "failed or refused transfers", Warn: o.FailedTransfers > 0},
			{Value: strconv.FormatInt(o.SignIns, 10), Label: "sign-ins", Link: link(audit.ActLogin)},
			{Value: strconv.FormatInt(o.FailedSignIns, 10), Label: "failed sign-ins", Link: link(audit.ActLogin), Warn: o.FailedSignIns > 0},
			{Value: strconv.FormatInt(o.Lockouts, 10), Label: "lockouts", Link: link(audit.ActLockout), Warn: o.Lockouts > 0},
			{Value: strconv.FormatInt(o.Denied, 10), Label: "refused actions", Warn: o.Denied > 0},
		}
		d.Now = []stat{
			{Value: strconv.FormatInt(o.LiveWebSessions, 10), Label: "signed-in web sessions", Link: "/admin/sessions"},
			{Value: formatBytes(o.StoredBytes), Label: "stored (before encryption)"},
			{Value: strconv.FormatInt(o.Files, 10), Label: "files"},
			{Value: strconv.FormatInt(o.Users-o.DisabledUsers, 10), Label: "active users (" + strconv.FormatInt(o.DisabledUsers, 10) + " disabled)", Link: "/admin/users"},
			{Value: strconv.FormatInt(o.Folders, 10), Label: "folders (homes and shared)", Link: "/admin/folders"},
			{Value: strconv.FormatInt(o.PartialUploads, 10), Label: "unfinished uploads"},
		}
	}
	s.chainStatus(r, p, &d)
	s.render(w, "admin", http.StatusOK, page{Title: "Dashboard", Section: "admin", User: &p}, d)
}

// chainStatus verifies the audit chain for the page.
func (s *Server) chainStatus(r *http.Request, p auth.Principal, d *adminData) {
	rep, err := s.accounts.VerifyAudit(r.Context(), p)
	switch {
	case err == nil:
		d.ChainOK, d.ChainRecords, d.ChainProblem = rep.OK(), rep.Records, rep.Problem
	case errs.KindOf(err) != errs.Permission:
		d.ChainProblem = "could not be checked: " + userMessage(err, "")
	}
}

// userEdit is the page of one user.
type userEdit struct {
	Name, Used, QuotaGB, Created   string
	AllowedIPs, Protocols          string // the per-user limits; "" = none
	Admin, Disabled, PasswordLogin bool
	RequiredOfUser, RequiredOfAll  bool
	TwoFactorOn                    bool
	TwoFactorSince                 string
	Groups                         []groupCheck
	Sessions                       []sessionRow
}

type groupCheck struct {
	Name   string
	Member bool
}

// sessionRows lists the signed-in, unexpired sessions of list; current is the asking
// browser's own session.
func (s *Server) sessionRows(list []auth.WebSession, current string) []sessionRow {
	out := make([]sessionRow, 0, len(list))
	for _, ws := range list {
		if ws.State != auth.StateComplete || s.sessions.Expired(ws) {
			continue
		}
		agent := ws.UserAgent
		if len(agent) > 80 {
			agent = strings.ToValidUTF8(agent[:80], "") + "…"
		}
		out = append(out, sessionRow{ID: ws.ID, User: ws.UserName, Method: ws.Method, Created: formatTime(ws.Created),
			LastSeen: formatTime(ws.LastSeen), IP: ws.SourceIP, Agent: agent, Current: ws.ID == current})
	}
	return out
}

func (s *Server) userPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	s.renderUser(w, r, p, r.PathValue("name"), adminData{}, http.StatusOK)
}

func (s *Server) renderUser(w http.ResponseWriter, r *http.Request, p auth.Principal, name string, d adminData, code int) {
	ctx := r.Context()
	d.Tab = "users"
	u, err := s.accounts.User(ctx, p, name)
	if err != nil {
		d.Error = userMessage(err, "The user cannot be shown.")
		s.renderUsers(w, r, p, d, errStatus(err))
		return
	}
	e := &userEdit{Name: u.Name, Used: formatBytes(u.UsedBytes), QuotaGB: strconv.FormatFloat(float64(u.QuotaBytes)/1e9, 'f', -1, 64),
		Created: formatTime(u.Created), Admin: u.Admin, Disabled: u.Disabled, PasswordLogin: u.PasswordLogin,
		AllowedIPs: u.AllowedIPs, Protocols: u.Protocols}
	if tf, err := s.accounts.TwoFactor(ctx, p, name); err == nil {
		e.RequiredOfUser, e.RequiredOfAll, e.TwoFactorOn = tf.RequiredOfUser, tf.RequiredOfAll, tf.Active()
		e.TwoFactorSince = formatTime(tf.Enrolled)
	} else if d.Error == "" {
		d.Error = userMessage(err, "The two-step verification state cannot be read.")
	}
	if groups, members, err := s.accounts.ListGroups(ctx, p, "", 1000); err == nil {
		for _, g := range groups {
			e.Groups = append(e.Groups, groupCheck{Name: g.Name, Member: slices.Contains(members[g.Name], u.Name)})
		}
	}
	if list, err := s.accounts.ListSessions(ctx, p, name); err == nil {
		e.Sessions = s.sessionRows(list, "")
	}
	d.Edit = e
	s.render(w, "admin", code, page{Title: "User " + u.Name, Section: "admin", User: &p}, d)
}

func (s *Server) saveUser(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	name := r.PathValue("name")
	quota, ok := parseGB(r.PostFormValue("quota_gb"))
	if !ok {
		s.renderUser(w, r, p, name, adminData{Error: "The quota must be a number of GB, 0 for unlimited."}, http.StatusBadRequest)
		return
	}
	admin, pwLogin := r.PostFormValue("admin") == "on", r.PostFormValue("password_login") == "on"
	ips, protos := r.PostFormValue("allowed_ips"), r.PostFormValue("protocols")
	ctx := r.Context()
	before, err := s.accounts.User(ctx, p, name)
	if err == nil {
		_, err = s.accounts.UpdateUser(ctx, p, name, accounts.UserUpdate{Admin: &admin, Quota: &quota, PasswordLogin: &pwLogin,
			AllowedIPs: &ips, Protocols: &protos})
	}
	if err == nil {
		var tf accounts.TwoFactor
		if tf, err = s.accounts.TwoFactor(ctx, p, name); err == nil {
			if want := r.PostFormValue("require_2fa") == "on"; want != tf.RequiredOfUser {
				err = s.accounts.Require2FA(ctx, p, name, want)
			}
		}
	}
	if err != nil {
		s.renderUser(w, r, p, name, adminData{Error: userMessage(err, "The user could not be changed.")}, errStatus(err))
		return
	}
	msg := "Saved."
	if before.PasswordLogin && !pwLogin {
		msg += " " + name + " now signs in with SSH keys and API tokens only; their web sessions have ended."
	}
	s.renderUser(w, r, p, name, adminData{Done: msg}, http.StatusOK)
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	name := r.PathValue("name")
	pw := r.PostFormValue("password")
	generated := pw == ""
	if generated {
		pw = auth.RandomPassword()
	}
	if _, err := s.accounts.UpdateUser(r.Context(), p, name, accounts.UserUpdate{Password: &pw}); err != nil {
		s.renderUser(w, r, p, name, adminData{Error: userMessage(err, "The password could not be set.")}, errStatus(err))
		return
	}
	d := adminData{Done: "The password of " + name + " is changed and their web sessions have ended."}
	if generated {
		d.Password = pw
	}
	s.renderUser(w, r, p, name, d, http.StatusOK)
}

func (s *Server) setGroups(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	name := r.PathValue("name")
	if err := r.ParseForm(); err != nil {
		s.renderUser(w, r, p, name, adminData{Error: "The form could not be read."}, http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	groups, members, err := s.accounts.ListGroups(ctx, p, "", 1000)
	want := r.PostForm["group"]
	for _, g := range groups {
		if err != nil {
			break
		}
		if in, wanted := slices.Contains(members[g.Name], name), slices.Contains(want, g.Name); in != wanted {
			err = s.accounts.SetMember(ctx, p, g.Name, name, wanted)
		}
	}
	if err != nil {
		s.renderUser(w, r, p, name, adminData{Error: userMessage(err, "The groups could not be changed.")}, errStatus(err))
		return
	}
	s.renderUser(w, r, p, name, adminData{Done: "Groups saved."}, http.StatusOK)
}

func (s *Server) setRequire2FAForAll(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	on := r.PostFormValue("on") == "on"
	if err := s.accounts.Require2FAForAll(r.Context(), p, on); err != nil {
		s.renderUsers(w, r, p, adminData{Error: userMessage(err, "The setting could not be changed.")}, errStatus(err))
		return
	}
	msg := "Two-step verification is now required of everyone. Those who have not set it up are signed out and set it up at their next sign-in."
	if !on {
		msg = "Two-step verification is no longer required of everyone (it stays required of the users for whom you ticked it)."
	}
	s.renderUsers(w, r, p, adminData{Done: msg}, http.StatusOK)
}

type groupRow struct {
	Name, Created string
	Members       []string
}

func (s *Server) groupsPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	s.renderGroups(w, r, p, adminData{}, http.StatusOK)
}

func (s *Server) renderGroups(w http.ResponseWriter, r *http.Request, p auth.Principal, d adminData, code int) {
	d.Tab = "groups"
	groups, members, err := s.accounts.ListGroups(r.Context(), p, "", 1000)
	if err != nil && d.Error == "" {
		d.Error = userMessage(err, "The groups cannot be listed.")
	}
	for _, g := range groups {
		d.Groups = append(d.Groups, groupRow{Name: g.Name, Created: formatTime(g.Created), Members: members[g.Name]})
	}
	s.render(w, "admin", code, page{Title: "Groups", Section: "admin", User: &p}, d)
}

func (s *Server) createGroup(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	g, err := s.accounts.CreateGroup(r.Context(), p, r.PostFormValue("name"))
	if err != nil {
		s.renderGroups(w, r, p, adminData{Error: userMessage(err, "The group could not be created.")}, errStatus(err))
		return
	}
	s.renderGroups(w, r, p, adminData{Done: "Group " + g.Name + " created. Add members below, then share folders with it."}, http.StatusCreated)
}

func (s *Server) deleteGroup(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	name := r.PostFormValue("name")
	if err := s.accounts.DeleteGroup(r.Context(), p, name); err != nil {
		s.renderGroups(w, r, p, adminData{Error: userMessage(err, "The group could not be deleted.")}, errStatus(err))
		return
	}
	s.renderGroups(w, r, p, adminData{Done: "Group " + name + " deleted, with the access it gave."}, http.StatusOK)
}

func (s *Server) setGroupMember(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	group, user, add := r.PostFormValue("group"), r.PostFormValue("user"), r.PostFormValue("member") != "off"
	if err := s.accounts.SetMember(r.Context(), p, group, user, add); err != nil {
		s.renderGroups(w, r, p, adminData{Error: userMessage(err, "The membership could not be changed.")}, errStatus(err))
		return
	}
	msg := user + " is now a member of " + group + "."
	if !add {
		msg = user + " is no longer a member of " + group + "."
	}
	s.renderGroups(w, r, p, adminData{Done: msg}, http.StatusOK)
}

func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	s.renderSessions(w, r, p, adminData{}, http.StatusOK)
}

func (s *Server) renderSessions(w http.ResponseWriter, r *http.Request, p auth.Principal, d adminData, code int) {
	d.Tab = "sessions"
	list, err := s.accounts.LiveSessions(r.Context(), p, 1000)
	if err != nil && d.Error == "" {
		d.Error = userMessage(err, "The sessions cannot be listed.")
	}
	d.Sessions = s.sessionRows(list, "")
	s.render(w, "admin", code, page{Title: "Sessions", Section: "admin", User: &p}, d)
}

// endAnySession ends a web session of any user; "user" sends the administrator back to
// that user's page instead of the sessions list.
func (s *Server) endAnySession(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	err := s.accounts.EndSession(r.Context(), p, r.PostFormValue("id"))
	d, code := adminData{Done: "The session is ended: that browser must sign in again."}, http.StatusOK
	if err != nil {
		d, code = adminData{Error: userMessage(err, "The session could not be ended.")}, errStatus(err)
	}
	if user := r.PostFormValue("user"); user != "" {
		s.renderUser(w, r, p, user, d, code)
		return
	}
	s.renderSessions(w, r, p, d, code)
}

// auditFilter reads the audit page's filter: since and until are dates (UTC), whole days.
func auditFilter(q url.Values) (db.AuditFilter, string) {
	f := db.AuditFilter{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")), PathPart: q.Get("path")}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return f, "The 'from' date must look like 2026-11-27."
		}
		f.Since = t
	}
	if v := q.Get("until"); v != "" {
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return f, "The 'to' date must look like 2026-11-27."
		}
		f.Until = t.Add(24*time.Hour - time.Microsecond)
	}
	return f, ""
}

func (s *Server) auditPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	q := r.URL.Query()
	f, problem := auditFilter(q)
	d := adminData{Tab: "audit", Filter: f, Error: problem, SinceDate: q.Get("since"), UntilDate: q.Get("until")}
	if problem == "" {
		recs, err := s.accounts.AuditQuery(r.Context(), p, f, 200)
		if err != nil {
			d.Error = userMessage(err, "The audit log cannot be read.")
		}
		for _, rec := range recs {
			d.Records = append(d.Records, auditRow{Seq: rec.Seq, At: rec.At.UTC().Format("2006-01-02 15:04:05"), Actor: rec.Actor,
				Action: rec.Action, Path: rec.Path, Result: rec.Result, Bytes: rec.Bytes, From: rec.Protocol + " " + rec.SourceIP})
		}
		d.More = len(recs) == 200
	}
	keep := url.Values{}
	for _, k := range []string{"actor", "action", "path", "since", "until"} {
		if v := q.Get(k); v != "" {
			keep.Set(k, v)
		}
	}
	keep.Set("format", "csv")
	d.ExportCSV = "/admin/audit/export?" + keep.Encode()
	keep.Set("format", "jsonl")
	d.ExportJSONL = "/admin/audit/export?" + keep.Encode()
	s.chainStatus(r, p, &d)
	code := http.StatusOK
	if problem != "" {
		code = http.StatusBadRequest
	}
	s.render(w, "admin", code, page{Title: "Audit log", Section: "admin", User: &p}, d)
}

// auditExport streams the records that match the audit page's filter, oldest first, as
// CSV or JSON lines (the format of `coffer audit export`).
func (s *Server) auditExport(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	q := r.URL.Query()
	f, problem := auditFilter(q)
	format := q.Get("format")
	if problem == "" && format != "csv" && format != "jsonl" {
		problem = "Choose the format csv or jsonl."
	}
	if problem != "" {
		s.render(w, "admin", http.StatusBadRequest, page{Title: "Audit log", Section: "admin", User: &p}, adminData{Tab: "audit", Error: problem})
		return
	}
	name := "coffer-audit-" + time.Now().UTC().Format("20060102-150405") + "." + format
	h := w.Header()
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	bw := bufio.NewWriterSize(w, 64<<10)
	var each func(db.AuditRecord) error
	flush := bw.Flush
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(bw)
		if err := cw.Write(csvHeader); err != nil {
			return
		}
		each = func(rec db.AuditRecord) error {
			cw.Write(csvRecord(audit.Export(rec)))
			return cw.Error()
		}
		flush = func() error { cw.Flush(); return bw.Flush() }
	} else {
		h.Set("Content-Type", "application/jsonl; charset=utf-8")
		enc := json.NewEncoder(bw)
		each = func(rec db.AuditRecord) error { return enc.Encode(audit.Export(rec)) }
	}
	n, err := s.accounts.ExportAudit(r.Context(), p, f, each)
	if err != nil {
		if n == 0 && errs.KindOf(err) == errs.Permission {
			http.Error(w, "only administrators may export the audit log", http.StatusForbidden)
			return
		}
		// The status line is gone: cut the connection so that the download fails instead
		// of ending as if it were complete.
		s.log.Error("audit export failed", "records", n, "err", err)
		panic(http.ErrAbortHandler)
	}
	flush()
}

var csvHeader = []string{"seq", "time", "actor", "source_ip", "protocol", "action", "path", "target", "bytes", "result", "detail", "prev_hash", "hash", "key_id"}

func csvRecord(e audit.Exported) []string {
	return []string{strconv.FormatInt(e.Seq, 10), e.At.UTC().Format(time.RFC3339Nano), cell(e.Actor), cell(e.SourceIP), cell(e.Protocol),
		cell(e.Action), cell(e.Path), cell(e.Target), strconv.FormatInt(e.Bytes, 10), cell(e.Result), cell(e.Detail), e.PrevHash, e.Hash, cell(e.KeyID)}
}

// cell defuses text that a spreadsheet would run as a formula (a file named
// "=HYPERLINK(...)" must not become a link when an auditor opens the export).
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
