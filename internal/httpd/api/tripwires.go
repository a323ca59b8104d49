package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/files"
)

// The tripwires' administration (docs/tripwires.md); routes in admin.go.

type alertOut struct {
	ID             int64     `json:"id"`
	At             time.Time `json:"at"`
	Kind           string    `json:"kind"`
	Account        string    `json:"account"`
	Path           string    `json:"path"`
	Action         string    `json:"action"`
	Detail         string    `json:"detail"`
	Acknowledged   bool      `json:"acknowledged"`
	AcknowledgedBy string    `json:"acknowledged_by,omitempty"`
}

type canaryOut struct {
	Folder    string    `json:"folder,omitempty"`
	User      string    `json:"user,omitempty"`
	Path      string    `json:"path"`
	Dir       bool      `json:"dir"`
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// canaryRequest names a file or directory: in a shared folder or in a user's home.
type canaryRequest struct {
	Folder string `json:"folder"`
	User   string `json:"user"`
	Path   string `json:"path"`
}

func (s *Server) tripwires() error {
	if s.Tripwires == nil {
		return errs.E(errs.NotFound, "tripwires are not enabled on this server")
	}
	return nil
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.tripwires(); err != nil {
		return err
	}
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	as, err := s.Tripwires.Alerts(r.Context(), p, q.Get("open") == "true", before, queryLimit(r))
	if err != nil {
		return err
	}
	out := make([]alertOut, 0, len(as))
	for _, a := range as {
		out = append(out, alertOutOf(a))
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
	return nil
}

func alertOutOf(a db.Alert) alertOut {
	return alertOut{ID: a.ID, At: a.At, Kind: a.Kind, Account: a.Account, Path: a.Path, Action: a.Action,
		Detail: a.Detail, Acknowledged: !a.Acknowledged.IsZero(), AcknowledgedBy: a.AcknowledgedBy}
}

func (s *Server) ackAlert(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.tripwires(); err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return errs.E(errs.Invalid, "the alert id must be a number")
	}
	if err := s.Tripwires.Acknowledge(r.Context(), p, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) liftSuspension(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if err := s.tripwires(); err != nil {
		return err
	}
	if err := s.Tripwires.Lift(r.Context(), p, r.PathValue("name")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) listCanaries(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	cs, err := s.files.Canaries(r.Context(), p)
	if err != nil {
		return err
	}
	out := make([]canaryOut, 0, len(cs))
	for _, c := range cs {
		out = append(out, canaryOut{Folder: c.Folder, User: c.User, Path: c.Path, Dir: c.IsDir, Created: c.Created, CreatedBy: c.CreatedBy})
	}
	writeJSON(w, http.StatusOK, map[string]any{"canaries": out})
	return nil
}

func (s *Server) setCanary(on bool) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		var req canaryRequest
		if err := decodeJSON(w, r, &req); err != nil {
			return err
		}
		if err := s.files.SetCanary(r.Context(), p, files.Place(req), on); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// MaxDecoyBytes bounds a decoy's content: bait, not a transfer.
const MaxDecoyBytes = 16 << 20

// createDecoy stores the request body as a new canary file named by the query (folder
// or user, and path).
func (s *Server) createDecoy(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	if r.ContentLength < 0 || r.ContentLength > MaxDecoyBytes {
		return errs.E(errs.Invalid, "send the decoy's content with a Content-Length of at most 16 MiB")
	}
	e, err := s.files.CreateDecoy(r.Context(), p, files.Place{Folder: q.Get("folder"), User: q.Get("user"), Path: q.Get("path")},
		http.MaxBytesReader(w, r.Body, MaxDecoyBytes), r.ContentLength)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, entryOut(e))
	return nil
}
