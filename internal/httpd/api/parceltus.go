package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/coffer-mft/coffer/internal/auth"
	"github.com/coffer-mft/coffer/internal/errs"
	"github.com/coffer-mft/coffer/internal/parcel"
)

// Resumable uploads into parcels (docs/parcels.md, "Resumable uploads"): the tus subset
// and limits of /uploads (tus.go), for a sender's draft under /parcels/{id}/uploads and
// for a request link's holder under /p/{token}/uploads. Upload-Metadata: "filename" (the
// file name; e2e: its sealed metadata) and optionally "sha256". The parcel package
// authorises every request: an upload is found only through the parcel and the link (or
// owner) it began with.

func (a *parcelAPI) tusRoutes() {
	m, s := a.s.mux, a.s
	m.HandleFunc("OPTIONS "+Prefix+"/parcels/{id}/uploads", s.tusOptions)
	m.HandleFunc("OPTIONS "+Prefix+"/parcels/{id}/uploads/{upload}", s.tusOptions)
	m.Handle("POST "+Prefix+"/parcels/{id}/uploads", s.tus(a.ownerCreate))
	m.Handle("HEAD "+Prefix+"/parcels/{id}/uploads/{upload}", s.tus(a.ownerHead))
	m.Handle("PATCH "+Prefix+"/parcels/{id}/uploads/{upload}", s.tus(a.ownerPatch))
	m.Handle("DELETE "+Prefix+"/parcels/{id}/uploads/{upload}", s.tus(a.ownerDelete))
	m.HandleFunc("OPTIONS "+Prefix+"/p/{token}/uploads", s.tusOptions)
	m.HandleFunc("OPTIONS "+Prefix+"/p/{token}/uploads/{upload}", s.tusOptions)
	m.Handle("POST "+Prefix+"/p/{token}/uploads", a.recipientTus(a.linkCreate))
	m.Handle("HEAD "+Prefix+"/p/{token}/uploads/{upload}", a.recipientTus(a.linkHead))
	m.Handle("PATCH "+Prefix+"/p/{token}/uploads/{upload}", a.recipientTus(a.linkPatch))
	m.Handle("DELETE "+Prefix+"/p/{token}/uploads/{upload}", a.recipientTus(a.linkDelete))
}

// recipientTus wraps a link holder's tus handler: the version check, then h.
func (a *parcelAPI) recipientTus(h recipientHandler) http.Handler {
	return a.recipient(func(w http.ResponseWriter, r *http.Request, acc parcel.Access) error {
		if !tusVersionOK(w, r) {
			return nil
		}
		return h(w, r, acc)
	})
}

// parcelTusCreation reads a creation request: the length, the name and the digest.
func parcelTusCreation(r *http.Request) (length int64, name string, sum []byte, err error) {
	length, meta, err := tusCreation(r)
	if err != nil {
		return 0, "", nil, err
	}
	name = meta["filename"]
	if name == "" {
		return 0, "", nil, errs.E(errs.Invalid, `name the file: Upload-Metadata "filename" (for an end-to-end parcel, its sealed metadata)`)
	}
	sum, err = tusSHA256(meta)
	return length, name, sum, err
}

// parcelTusState answers with an upload's state (HEAD, or a piece that did not complete
// it), or, with f, with the file it completed.
func parcelTusState(w http.ResponseWriter, u parcel.Upload, f *parcel.File, code int) {
	h := w.Header()
	h.Set("Upload-Offset", strconv.FormatInt(u.Offset, 10))
	if f != nil {
		h.Set("X-Coffer-File", f.ID)
	} else {
		h.Set("Upload-Length", strconv.FormatInt(u.Length, 10))
		h.Set("Upload-Expires", u.Expires.UTC().Format(http.TimeFormat))
	}
	w.WriteHeader(code)
}

// first handles the piece that a creation request may carry, else answers 201.
func first(w http.ResponseWriter, r *http.Request, u parcel.Upload, appendFn func(off int64) (parcel.Upload, *parcel.File, error)) error {
	if !tusFirstPiece(r) {
		parcelTusState(w, u, nil, http.StatusCreated)
		return nil
	}
	http.NewResponseController(w).SetReadDeadline(time.Time{})
	u, f, err := appendFn(0)
	if err != nil {
		return err
	}
	parcelTusState(w, u, f, http.StatusCreated)
	return nil
}

// piece handles a PATCH with appendFn.
func piece(w http.ResponseWriter, r *http.Request, appendFn func(off int64) (parcel.Upload, *parcel.File, error)) error {
	off, ok, err := tusPiece(w, r)
	if !ok {
		return err
	}
	u, f, err := appendFn(off)
	if err != nil {
		return err
	}
	parcelTusState(w, u, f, http.StatusNoContent)
	return nil
}

func (a *parcelAPI) ownerCreate(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	length, name, sum, err := parcelTusCreation(r)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	u, err := a.ps.StartFile(r.Context(), p, id, name, length, sum)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/parcels/"+id+"/uploads/"+u.ID)
	return first(w, r, u, func(off int64) (parcel.Upload, *parcel.File, error) {
		return a.ps.AppendFile(r.Context(), p, id, u.ID, off, r.Body)
	})
}

func (a *parcelAPI) ownerHead(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	uid, err := tusIDIn(r, "upload")
	if err != nil {
		return err
	}
	u, err := a.ps.FileUpload(r.Context(), p, r.PathValue("id"), uid)
	if err != nil {
		return err
	}
	parcelTusState(w, u, nil, http.StatusOK)
	return nil
}

func (a *parcelAPI) ownerPatch(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	uid, err := tusIDIn(r, "upload")
	if err != nil {
		return err
	}
	return piece(w, r, func(off int64) (parcel.Upload, *parcel.File, error) {
		return a.ps.AppendFile(r.Context(), p, r.PathValue("id"), uid, off, r.Body)
	})
}

func (a *parcelAPI) ownerDelete(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	uid, err := tusIDIn(r, "upload")
	if err != nil {
		return err
	}
	if err := a.ps.DiscardFile(r.Context(), p, r.PathValue("id"), uid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// linkUploadID checks the upload id of a link holder's request. A malformed one is
// ErrNoUpload, as an unknown one is: neither counts as probing for links.
func linkUploadID(r *http.Request) (string, error) {
	uid, err := tusIDIn(r, "upload")
	if err != nil {
		return "", errs.E(errs.NotFound, parcel.ErrNoUpload)
	}
	return uid, nil
}

func (a *parcelAPI) linkCreate(w http.ResponseWriter, r *http.Request, acc parcel.Access) error {
	length, name, sum, err := parcelTusCreation(r)
	if err != nil {
		return err
	}
	u, err := a.ps.StartUpload(r.Context(), acc, name, length, sum)
	if err != nil {
		return err
	}
	w.Header().Set("Location", Prefix+"/p/"+acc.Token+"/uploads/"+u.ID)
	return first(w, r, u, func(off int64) (parcel.Upload, *parcel.File, error) {
		return a.ps.AppendUpload(r.Context(), acc, u.ID, off, r.Body)
	})
}

func (a *parcelAPI) linkHead(w http.ResponseWriter, r *http.Request, acc parcel.Access) error {
	uid, err := linkUploadID(r)
	if err != nil {
		return err
	}
	u, err := a.ps.UploadStatus(r.Context(), acc, uid)
	if err != nil {
		return err
	}
	parcelTusState(w, u, nil, http.StatusOK)
	return nil
}

func (a *parcelAPI) linkPatch(w http.ResponseWriter, r *http.Request, acc parcel.Access) error {
	uid, err := linkUploadID(r)
	if err != nil {
		return err
	}
	return piece(w, r, func(off int64) (parcel.Upload, *parcel.File, error) {
		return a.ps.AppendUpload(r.Context(), acc, uid, off, r.Body)
	})
}

func (a *parcelAPI) linkDelete(w http.ResponseWriter, r *http.Request, acc parcel.Access) error {
	uid, err := linkUploadID(r)
	if err != nil {
		return err
	}
	if err := a.ps.DiscardUpload(r.Context(), acc, uid); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
