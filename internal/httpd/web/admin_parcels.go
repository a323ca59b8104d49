package web

import (
	"net/http"

	"github.com/coffer-mft/coffer/internal/auth"
)

// Administrators' list of everyone's parcels: /admin/parcels?q=TEXT.

type adminParcelRow struct {
	parcelRow
	Owner string
	Live  bool
}

func (s *Server) adminParcelsPage(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	s.renderAdminParcels(w, r, p, r.URL.Query().Get("q"), http.StatusOK, adminData{})
}

func (s *Server) adminRevokeParcel(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	d, code := adminData{Done: "The parcel was revoked: its links no longer work."}, http.StatusOK
	if err := s.parcels.AdminRevoke(r.Context(), p, r.PostFormValue("id")); err != nil {
		d.Done = ""
		code, d.Error = s.parcelError(err)
	}
	s.renderAdminParcels(w, r, p, r.PostFormValue("q"), code, d)
}

func (s *Server) renderAdminParcels(w http.ResponseWriter, r *http.Request, p auth.Principal, q string, code int, d adminData) {
	d.Tab, d.Search = "parcels", q
	ps, err := s.parcels.Search(r.Context(), p, q, 500)
	if err != nil {
		code, d.Error = s.parcelError(err)
	}
	for _, pp := range ps {
		d.Parcels = append(d.Parcels, adminParcelRow{parcelRow: rowOf(pp), Owner: pp.Owner,
			Live: pp.Status != "revoked" && pp.Status != "expired" && pp.Purged.IsZero()})
	}
	s.render(w, "admin", code, page{Title: "Parcels", Section: "admin", User: &p}, d)
}
