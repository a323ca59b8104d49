package db

import (
	"context"
	"math"
	"time"
)

// Entry is one file or directory inside a folder. ParentID 0 is the folder's root.
type Entry struct {
	ID          int64
	FolderID    int64
	ParentID    int64
	Name        string
	IsDir       bool
	Size        int64
	SHA256      []byte
	BlobID      string // "" for a directory, and for a small file whose payload is in its row
	CryptHeader []byte
	Created     time.Time
	Modified    time.Time
	// Payload is a small file's age payload, kept in its row instead of a blob (a file
	// has either BlobID or Payload). InsertEntry and ReplaceFile write it; the queries
	// that return entries leave it nil (listings need not carry file contents): read it
	// with EntryPayload.
	Payload []byte
}

const entryColumns = `id, folder_id, parent_id, name, is_dir, size, sha256, COALESCE(blob_id, ''), crypt_header, created, modified`

const (
	qLookupChild  = `SELECT ` + entryColumns + ` FROM entries WHERE folder_id = $1 AND parent_id = $2 AND name = $3`
	qEntryByID    = `SELECT ` + entryColumns + ` FROM entries WHERE id = $1`
	qListChildren = `SELECT ` + entryColumns + ` FROM entries WHERE folder_id = $1 AND parent_id = $2 AND name > $3 ORDER BY name LIMIT $4`
	// The other orders of a listing, each with its keyset cursor (key, name): one constant
	// query per order, chosen in ListChildrenOrdered.
	qListChildrenNameDesc     = `SELECT ` + entryColumns + ` FROM entries WHERE folder_id = $1 AND parent_id = $2 AND ($3 = '' OR name < $3) ORDER BY name DESC LIMIT $4`
	qListChildrenSize         = `SELECT ` + entryColumns + ` FROM entries WHERE folder_id = $1 AND parent_id = $2 AND (size > $3 OR (size = $3 AND name > $4)) ORDER BY size, name LIMIT $5`
	qListChildrenSizeDesc     = `SELECT ` + entryColumns + ` FROM entries WHERE folder_id = $1 AND parent_id = $2 AND (size < $3 OR (size = $3 AND name < $4)) ORDER BY size DESC, name DESC LIMIT $5`
	qListChildrenModified     = `SELECT ` + entryColumns + ` FROM entries WHERE folder_id = $1 AND parent_id = $2 AND (modified > $3 OR (modified = $3 AND name > $4)) ORDER BY modified, name LIMIT $5`
	qListChildrenModifiedDesc = `SELECT ` + entryColumns + ` FROM entries WHERE folder_id = $1 AND parent_id = $2 AND (modified < $3 OR (modified = $3 AND name < $4)) ORDER BY modified DESC, name DESC LIMIT $5`
	qHasChildren              = `SELECT COUNT(*) FROM (SELECT 1 FROM entries WHERE folder_id = $1 AND parent_id = $2 LIMIT 1) t`
	qInsertEntry              = `INSERT INTO entries (folder_id, parent_id, name, is_dir, size, sha256, blob_id, crypt_header, created, modified, payload) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`
	qReplaceFile              = `UPDATE entries SET size = $2, sha256 = $3, blob_id = $4, crypt_header = $5, modified = $6, payload = $7 WHERE id = $1 AND is_dir = 0`
	// The version of the file that has this header: each version has its own (a fresh
	// wrapped file key), so a row replaced since it was looked up does not match.
	qEntryPayload = `SELECT payload FROM entries WHERE id = $1 AND crypt_header = $2 AND is_dir = 0`
	qMoveEntry    = `UPDATE entries SET folder_id = $2, parent_id = $3, name = $4 WHERE id = $1`
	qSetModified  = `UPDATE entries SET modified = $2 WHERE id = $1`
	qDeleteEntry  = `DELETE FROM entries WHERE id = $1`
	// The entry and everything beneath it.
	qSubtree           = `WITH RECURSIVE sub(id) AS (SELECT id FROM entries WHERE id = $1 UNION ALL SELECT e.id FROM entries e JOIN sub ON e.parent_id = sub.id) `
	qSubtreeFiles      = qSubtree + `SELECT e.id, COALESCE(e.blob_id, ''), e.size FROM entries e JOIN sub ON e.id = sub.id WHERE e.is_dir = 0`
	qSubtreeSetFolder  = qSubtree + `UPDATE entries SET folder_id = $2 WHERE id IN (SELECT id FROM sub)`
	qSubtreeDelete     = qSubtree + `DELETE FROM entries WHERE id IN (SELECT id FROM sub)`
	qSubtreeContainsID = qSubtree + `SELECT COUNT(*) FROM sub WHERE id = $2`
)

func scanEntry(s scanner) (Entry, error) {
	var e Entry
	var isDir, created, modified int64
	err := s.Scan(&e.ID, &e.FolderID, &e.ParentID, &e.Name, &isDir, &e.Size, &e.SHA256, &e.BlobID, &e.CryptHeader, &created, &modified)
	e.IsDir = isDir != 0
	e.Created, e.Modified = fromMicro(created), fromMicro(modified)
	return e, err
}

// LookupChild returns the entry called name in directory parent of a folder. Errors: NotFound.
func (q Q) LookupChild(ctx context.Context, folderID, parentID int64, name string) (Entry, error) {
	e, err := scanEntry(q.q.QueryRowContext(ctx, qLookupChild, folderID, parentID, name))
	return e, q.d.classify(err)
}

// EntryByID returns an entry. Errors: NotFound.
func (q Q) EntryByID(ctx context.Context, id int64) (Entry, error) {
	e, err := scanEntry(q.q.QueryRowContext(ctx, qEntryByID, id))
	return e, q.d.classify(err)
}

// ListChildren returns up to limit entries of a directory whose names sort (bytewise)
// after after, in name order: a stable cursor for pagination.
func (q Q) ListChildren(ctx context.Context, folderID, parentID int64, after string, limit int) ([]Entry, error) {
	return q.children(ctx, qListChildren, folderID, parentID, after, limit)
}

// Order is the order of a directory listing.
type Order int

// The orders of ListChildrenOrdered. Ties of size or time are in name order (reversed
// with the rest for the descending ones).
const (
	ByName Order = iota
	ByNameDesc
	BySize
	BySizeDesc
	ByModified
	ByModifiedDesc
)

// Keyed reports whether the order's cursor has a key besides the name.
func (o Order) Keyed() bool { return o >= BySize }

// Desc reports whether the order is descending.
func (o Order) Desc() bool { return o == ByNameDesc || o == BySizeDesc || o == ByModifiedDesc }

// Key is the value of e that the order sorts by (besides the name): its size or its
// modification time in microseconds.
func (o Order) Key(e Entry) int64 {
	if o == ByModified || o == ByModifiedDesc {
		return micro(e.Modified)
	}
	return e.Size
}

// ListChildrenOrdered returns up to limit entries of a directory in order o that come
// after the cursor (afterKey, afterName): the key and name of the last entry of the
// previous page. For the first page give afterName "" and, for keyed orders, any
// afterKey: it is ignored then. afterKey is ignored by ByName and ByNameDesc.
func (q Q) ListChildrenOrdered(ctx context.Context, folderID, parentID int64, o Order, afterKey int64, afterName string, limit int) ([]Entry, error) {
	if o.Keyed() && afterName == "" {
		afterKey = math.MinInt64 // every key is above
		if o.Desc() {
			afterKey = math.MaxInt64
		}
	}
	switch o {
	case ByNameDesc:
		return q.children(ctx, qListChildrenNameDesc, folderID, parentID, afterName, limit)
	case BySize:
		return q.children(ctx, qListChildrenSize, folderID, parentID, afterKey, afterName, limit)
	case BySizeDesc:
		return q.children(ctx, qListChildrenSizeDesc, folderID, parentID, afterKey, afterName, limit)
	case ByModified:
		return q.children(ctx, qListChildrenModified, folderID, parentID, afterKey, afterName, limit)
	case ByModifiedDesc:
		return q.children(ctx, qListChildrenModifiedDesc, folderID, parentID, afterKey, afterName, limit)
	}
	return q.children(ctx, qListChildren, folderID, parentID, afterName, limit)
}

func (q Q) children(ctx context.Context, query string, args ...any) ([]Entry, error) {
	limit := args[len(args)-1].(int)
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	out := make([]Entry, 0, min(limit, 1024))
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, e)
	}
	return out, q.d.classify(rows.Err())
}

// HasChildren reports whether a directory has any entry.
func (q Q) HasChildren(ctx context.Context, folderID, dirID int64) (bool, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qHasChildren, folderID, dirID).Scan(&n)
	return n > 0, q.d.classify(err)
}

// InsertEntry inserts e (its ID is ignored) and returns it with its new ID.
// Errors: Exist when the name is taken in that directory.
func (q Q) InsertEntry(ctx context.Context, e Entry) (Entry, error) {
	err := q.q.QueryRowContext(ctx, qInsertEntry, e.FolderID, e.ParentID, e.Name, flag(e.IsDir), e.Size,
		e.SHA256, nullString(e.BlobID), e.CryptHeader, micro(e.Created), micro(e.Modified), nullBytes(e.Payload)).Scan(&e.ID)
	return e, q.d.classify(err)
}

// ReplaceFile points an existing file entry at new content (a blob, or a payload in the
// row). Errors: NotFound.
func (q Q) ReplaceFile(ctx context.Context, e Entry) error {
	return q.execOne(ctx, qReplaceFile, e.ID, e.Size, e.SHA256, nullString(e.BlobID), e.CryptHeader, micro(e.Modified), nullBytes(e.Payload))
}

// EntryPayload returns the payload kept in the row of file id, in the version whose
// header is header; nil if that version's content is in a blob. Errors: NotFound when
// the file was deleted or replaced by another version.
func (q Q) EntryPayload(ctx context.Context, id int64, header []byte) ([]byte, error) {
	var p []byte
	err := q.q.QueryRowContext(ctx, qEntryPayload, id, header).Scan(&p)
	return p, q.d.classify(err)
}

// nullString is s, or SQL NULL for "".
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nullBytes is b, or SQL NULL for nil.
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// MoveEntry renames and/or reparents an entry (within or across folders; for a
// directory moved across folders call SetSubtreeFolder too). Errors: NotFound, Exist.
func (q Q) MoveEntry(ctx context.Context, id, folderID, parentID int64, name string) error {
	return q.execOne(ctx, qMoveEntry, id, folderID, parentID, name)
}

// SetSubtreeFolder moves an entry and all its descendants into folderID.
func (q Q) SetSubtreeFolder(ctx context.Context, rootID, folderID int64) error {
	_, err := q.q.ExecContext(ctx, qSubtreeSetFolder, rootID, folderID)
	return q.d.classify(err)
}

// SubtreeContains reports whether id is rootID or lies beneath it.
func (q Q) SubtreeContains(ctx context.Context, rootID, id int64) (bool, error) {
	var n int64
	err := q.q.QueryRowContext(ctx, qSubtreeContainsID, rootID, id).Scan(&n)
	return n > 0, q.d.classify(err)
}

// SetModified sets an entry's modification time. Errors: NotFound.
func (q Q) SetModified(ctx context.Context, id int64, t time.Time) error {
	return q.execOne(ctx, qSetModified, id, micro(t))
}

// DeleteEntry removes one entry. Errors: NotFound.
func (q Q) DeleteEntry(ctx context.Context, id int64) error { return q.execOne(ctx, qDeleteEntry, id) }

// FileRef names the content of one file in a subtree.
type FileRef struct {
	EntryID int64
	BlobID  string
	Size    int64
}

// SubtreeFiles lists the files at or beneath an entry.
func (q Q) SubtreeFiles(ctx context.Context, rootID int64) ([]FileRef, error) {
	rows, err := q.q.QueryContext(ctx, qSubtreeFiles, rootID)
	if err != nil {
		return nil, q.d.classify(err)
	}
	defer rows.Close()
	var out []FileRef
	for rows.Next() {
		var f FileRef
		if err := rows.Scan(&f.EntryID, &f.BlobID, &f.Size); err != nil {
			return nil, q.d.classify(err)
		}
		out = append(out, f)
	}
	return out, q.d.classify(rows.Err())
}

// DeleteSubtree removes an entry and everything beneath it.
func (q Q) DeleteSubtree(ctx context.Context, rootID int64) error {
	_, err := q.q.ExecContext(ctx, qSubtreeDelete, rootID)
	return q.d.classify(err)
}
