package web

import (
	"net/http"
	"strconv"

	"github.com/coffer-mft/coffer/internal/auth"
)

// banRow is a ban of a client address as the bans page shows it.
type banRow struct {
	IP, Until, Since, Reason string
	Strikes                  string
}

func (s *Server) bansPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	s.renderBans(w, r, p, adminData{}, http.StatusOK)
}

func (s *Server) renderBans(w http.ResponseWriter, r *http.Request, p auth.Principal, d adminData, code int) {
	d.Tab = "bans"
	list, err := s.accounts.Bans(r.Context(), p)
	if err != nil && d.Error == "" {
		d.Error = userMessage(err, "The bans cannot be listed.")
	}
	for _, b := range list {
		d.Bans = append(d.Bans, banRow{IP: b.IP, Until: formatTime(b.Until), Since: formatTime(b.Created), Reason: b.Reason, Strikes: strconv.Itoa(b.Strikes)})
	}
	s.render(w, "admin", code, page{Title: "Bans", Section: "admin", User: &p}, d)
}

// liftBan ends the ban of an address.
func (s *Server) liftBan(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	ip := r.PostFormValue("ip")
	err := s.accounts.LiftBan(r.Context(), p, ip)
	d, code := adminData{Done: "The ban of " + ip + " is lifted."}, http.StatusOK
	if err != nil {
		d, code = adminData{Error: userMessage(err, "The ban could not be lifted.")}, errStatus(err)
	}
	s.renderBans(w, r, p, d, code)
}
