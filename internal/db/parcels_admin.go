package db

import "context"

// Parcels as administrators see them: everyone's.

// qSearchParcels matches the search text (empty: everything) against the owner's name,
// the subject and the recipients' addresses, case-insensitively, as a substring (% and _
// in it are wildcards, as in SQL). Newest first.
const qSearchParcels = `SELECT ` + parcelColumns + ` FROM parcels p JOIN users u ON u.id = p.owner_id WHERE $1 = '' OR lower(u.name) LIKE '%' || lower($1) || '%' OR lower(p.subject) LIKE '%' || lower($1) || '%' OR EXISTS (SELECT 1 FROM parcel_recipients r WHERE r.parcel_id = p.id AND lower(r.email) LIKE '%' || lower($1) || '%') ORDER BY p.created DESC, p.id DESC LIMIT $2`

// SearchParcels lists up to limit parcels of anyone that match search, newest first.
func (q Q) SearchParcels(ctx context.Context, search string, limit int) ([]Parcel, error) {
	return all(q, ctx, scanParcel, qSearchParcels, search, limit)
}
