package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// The Alerts tab: the tripwires' alerts, suspensions and canaries (docs/tripwires.md).

type alertRow struct {
	ID                                    int64
	At, Kind, Account, Path, Action, Text string
	Acknowledged                          bool
	By                                    string
}

type canaryRow struct {
	Where, Path, Created, By string
	Folder, User             string // for the unmark form
}

func (s *Server) alertsPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	s.renderAlerts(w, r, p, adminData{AllAlerts: r.URL.Query().Get("all") == "1"}, http.StatusOK)
}

func (s *Server) renderAlerts(w http.ResponseWriter, r *http.Request, p auth.Principal, d adminData, code int) {
	ctx := r.Context()
	d.Tab = "alerts"
	if s.Tripwires == nil {
		d.Error = "Tripwires are not enabled on this server."
	} else if as, err := s.Tripwires.Alerts(ctx, p, !d.AllAlerts, 0, 200); err != nil {
		d.Error = userMessage(err, "The alerts cannot be read.")
	} else {
		for _, a := range as {
			d.Alerts = append(d.Alerts, alertRow{ID: a.ID, At: formatTime(a.At), Kind: a.Kind, Account: a.Account, Path: a.Path,
				Action: a.Action, Text: a.Detail, Acknowledged: !a.Acknowledged.IsZero(), By: a.AcknowledgedBy})
		}
	}
	if cs, err := s.files.Canaries(ctx, p); err != nil && d.Error == "" {
		d.Error = userMessage(err, "The canaries cannot be read.")
	} else {
		for _, c := range cs {
			row := canaryRow{Path: c.Path, Created: formatTime(c.Created), By: c.CreatedBy, Folder: c.Folder, User: c.User}
			row.Where = "shared folder " + c.Folder
			if c.User != "" {
				row.Where = "home of " + c.User
			}
			d.Canaries = append(d.Canaries, row)
		}
	}
	s.render(w, "admin", code, page{Title: "Alerts", Section: "admin", User: &p}, d)
}

// done renders the Alerts tab after a change: msg, or err's message.
func (s *Server) alertsDone(w http.ResponseWriter, r *http.Request, p auth.Principal, err error, msg, fallback string) {
	d, code := adminData{Done: msg}, http.StatusOK
	if err != nil {
		d, code = adminData{Error: userMessage(err, fallback)}, errStatus(err)
	}
	s.renderAlerts(w, r, p, d, code)
}

func (s *Server) ackAlert(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		err = errs.E(errs.Invalid, "no such alert")
	} else if s.Tripwires == nil {
		err = errs.E(errs.NotFound, "tripwires are not enabled on this server")
	} else {
		err = s.Tripwires.Acknowledge(r.Context(), p, id)
	}
	s.alertsDone(w, r, p, err, "The alert is acknowledged.", "The alert could not be acknowledged.")
}

func (s *Server) liftSuspension(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	user := strings.TrimSpace(r.PostFormValue("user"))
	err := errs.E(errs.NotFound, "tripwires are not enabled on this server")
	if s.Tripwires != nil {
		err = s.Tripwires.Lift(r.Context(), p, user)
	}
	s.alertsDone(w, r, p, err, "The suspension of "+user+" is lifted: the account may sign in again.", "The suspension could not be lifted.")
}

// place reads the folder-or-user form fields that name a canary.
func place(r *http.Request) files.Place {
	pl := files.Place{Path: strings.TrimSpace(r.PostFormValue("path"))}
	if r.PostFormValue("in") == "user" {
		pl.User = strings.TrimSpace(r.PostFormValue("name"))
	} else {
		pl.Folder = strings.TrimSpace(r.PostFormValue("name"))
	}
	return pl
}

func (s *Server) setCanary(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	on := r.PostFormValue("mark") != "off"
	pl := place(r)
	err := s.files.SetCanary(r.Context(), p, pl, on)
	msg := pl.Path + " is a canary: every read and listing of it raises an alert."
	if !on {
		msg = pl.Path + " is no longer a canary."
	}
	s.alertsDone(w, r, p, err, msg, "The canary could not be changed.")
}

// maxDecoyText bounds a decoy typed into the page.
const maxDecoyText = 64 << 10

func (s *Server) createDecoy(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	pl := place(r)
	content := r.PostFormValue("content")
	var err error
	if len(content) > maxDecoyText {
		err = errs.E(errs.Invalid, "a decoy typed here holds at most 64 KiB: upload a bigger one with POST /api/v1/admin/decoys")
	} else {
		_, err = s.files.CreateDecoy(r.Context(), p, pl, strings.NewReader(content), int64(len(content)))
	}
	s.alertsDone(w, r, p, err, "The decoy "+pl.Path+" is made and marked as a canary.", "The decoy could not be made.")
}
