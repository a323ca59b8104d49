package api

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/coffer-mft/coffer/internal/defender"
	"github.com/coffer-mft/coffer/internal/errs"
)

// Defend refuses, before anything else runs, every request from an address that the
// defender has banned or that the address lists exclude: 403 with a problem that says
// why and until when. The address is the connection's (the PROXY protocol's, behind a
// balancer), never a header the client chose.
func Defend(d *defender.Service, log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := d.Check(r.Context(), clientIP(r)); err != nil {
			if errs.KindOf(err) != errs.Locked {
				if r.URL.Path == HealthPath {
					// The health check says itself which backend does not answer.
					h.ServeHTTP(w, r)
					return
				}
				log.Error("cannot check the address against the bans", "err", err)
				writeProblem(w, r, http.StatusServiceUnavailable, "the server could not complete the request; try again later")
				return
			}
			w.Header().Set("Retry-After", strconv.Itoa(int(d.Policy().BanFor.Seconds())))
			writeProblem(w, r, http.StatusForbidden, errs.Detail(err))
			return
		}
		h.ServeHTTP(w, r)
	})
}
