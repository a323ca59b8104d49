package api

import (
	"net/http"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/db"
	"github.com/coffer-mft/coffer/internal/errs"
)

func (s *Server) keyRoutes() {
	m := s.mux
	m.Handle("GET "+Prefix+"/me/keys", s.authed(s.ownKeys(s.listKeys)))
	m.Handle("POST "+Prefix+"/me/keys", s.authed(s.ownKeys(s.addKey)))
	m.Handle("DELETE "+Prefix+"/me/keys/{fingerprint}", s.authed(s.ownKeys(s.removeKey)))
	m.Handle("GET "+Prefix+"/admin/users/{name}/keys", s.authed(s.userKeys(s.listKeys)))
	m.Handle("POST "+Prefix+"/admin/users/{name}/keys", s.authed(s.userKeys(s.addKey)))
	m.Handle("DELETE "+Prefix+"/admin/users/{name}/keys/{fingerprint}", s.authed(s.userKeys(s.removeKey)))
}

// keyHandler serves a key request for the named user; the accounts layer decides whether
// the caller may (their own keys, or any for an administrator).
type keyHandler func(w http.ResponseWriter, r *http.Request, p auth.Principal, user string) error

func (s *Server) ownKeys(h keyHandler) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error { return h(w, r, p, p.Name) }
}

func (s *Server) userKeys(h keyHandler) handler {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		return h(w, r, p, r.PathValue("name"))
	}
}

type sshKey struct {
	Fingerprint string    `json:"fingerprint"`
	Type        string    `json:"type"`
	Comment     string    `json:"comment"`
	Created     time.Time `json:"created"`
	LastUsed    time.Time `json:"last_used,omitzero"`
}

func keyOut(k db.UserKey) sshKey {
	return sshKey{Fingerprint: k.Fingerprint, Type: k.KeyType, Comment: k.Comment, Created: k.Created, LastUsed: k.LastUsed}
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request, p auth.Principal, user string) error {
	ks, err := s.accounts.ListKeys(r.Context(), p, user)
	if err != nil {
		return err
	}
	out := make([]sshKey, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyOut(k))
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": out})
	return nil
}

func (s *Server) addKey(w http.ResponseWriter, r *http.Request, p auth.Principal, user string) error {
	var req struct {
		PublicKey string `json:"public_key"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.PublicKey == "" {
		return errs.E(errs.Invalid, "public_key is required: the content of an OpenSSH .pub file")
	}
	k, err := s.accounts.AddKey(r.Context(), p, user, req.PublicKey)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, keyOut(k))
	return nil
}

func (s *Server) removeKey(w http.ResponseWriter, r *http.Request, p auth.Principal, user string) error {
	if err := s.accounts.RemoveKey(r.Context(), p, user, r.PathValue("fingerprint")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
