// Package crypt implements Coffer's at-rest format, version 1 (docs/format.md): every
// stored file is an age file whose header lives in the database and whose payload lives
// in the blob store, with the file key wrapped to a key-encryption key (KEK) from a
// Keyring. Key bytes never leave this package.
package crypt

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/coffer-mft/coffer/internal/errs"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	kekSize   = 32
	keyTag    = "coffer-kek-v1"
	idLen     = 8 // lower-case hex digits
	keyHelp   = `expected "` + keyTag + ` <8 hex digit id> <base64 of 32 bytes>"`
	fileIntro = "# Coffer key-encryption keys. Keep this file secret and backed up: losing it loses every file.\n" +
		"# The first key is primary: new files are encrypted to it. The others still decrypt older files.\n"

	wrapInfo  = "coffer kek wrap v1"
	checkMsg  = "coffer kek check v1"
	macPrefix = "coffer mac v1 "
)

// Keyring holds key-encryption keys by id. Key bytes never leave the package: a Keyring
// formats as its ids only, whatever the verb. A Keyring is immutable and safe for
// concurrent use.
type Keyring struct {
	keys []*kek // in key-file order; keys[0] is the primary
}

// kek is one key-encryption key with what is derived from it once.
type kek struct {
	id   string
	key  [kekSize]byte
	wrap cipher.AEAD // XChaCha20-Poly1305 under the wrapping key (format.md, "The coffer-kek stanza")
}

func newKEK(id string, key []byte) (*kek, error) {
	k := &kek{id: id}
	copy(k.key[:], key)
	wk, err := hkdf.Key(sha256.New, k.key[:], nil, wrapInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	if k.wrap, err = chacha20poly1305.NewX(wk); err != nil {
		return nil, err
	}
	return k, nil
}

// NewKeyring returns a keyring holding one fresh random primary key.
func NewKeyring() (*Keyring, error) {
	const op = errs.Op("crypt.NewKeyring")
	var key [kekSize]byte
	var id [idLen / 2]byte
	rand.Read(key[:]) // crypto/rand.Read never fails; it crashes the program instead
	rand.Read(id[:])
	k, err := newKEK(hex.EncodeToString(id[:]), key[:])
	if err != nil {
		return nil, errs.E(op, err)
	}
	return &Keyring{keys: []*kek{k}}, nil
}

// ParseKeyring parses key-file text (format.md, "Key file") or the value of COFFER_KEK,
// which is the same lines separated by newlines or ';', or one bare base64 key. Errors
// name the bad line and never quote key material.
func ParseKeyring(text string) (*Keyring, error) {
	const op = errs.Op("crypt.ParseKeyring")
	kr, err := parseKeyring(text)
	if err != nil {
		return nil, errs.E(op, errs.Invalid, err)
	}
	return kr, nil
}

func parseKeyring(text string) (*Keyring, error) {
	type entry struct {
		where  string
		fields []string
	}
	var entries []entry
	for i, line := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		parts := strings.Split(line, ";")
		for j, part := range parts {
			fields := strings.Fields(part)
			if len(fields) == 0 {
				continue
			}
			where := fmt.Sprintf("line %d", i+1)
			if len(parts) > 1 {
				where += fmt.Sprintf(", entry %d", j+1)
			}
			entries = append(entries, entry{where, fields})
		}
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("no keys found (%s, one per line)", keyHelp)
	}

	// The bare form: COFFER_KEK holding nothing but one base64 key.
	if len(entries) == 1 && len(entries[0].fields) == 1 && !strings.HasPrefix(entries[0].fields[0], "coffer-kek") {
		key, err := decodeKey(entries[0].fields[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %v (or %s)", entries[0].where, err, keyHelp)
		}
		sum := sha256.Sum256(key)
		k, err := newKEK(hex.EncodeToString(sum[:])[:idLen], key)
		if err != nil {
			return nil, err
		}
		return &Keyring{keys: []*kek{k}}, nil
	}

	kr := &Keyring{}
	seen := make(map[string]string) // id -> where
	for _, e := range entries {
		f := e.fields
		switch {
		case f[0] != keyTag && strings.HasPrefix(f[0], "coffer-kek") && len(f[0]) <= len(keyTag)+3:
			// Quoted only when short: a tag run together with its key must not be echoed.
			return nil, fmt.Errorf("%s: unknown key format %q (this Coffer reads %s; is the key file from a newer version?)", e.where, f[0], keyTag)
		case len(f) == 1 && f[0] != keyTag:
			return nil, fmt.Errorf("%s: a bare key is accepted only alone, as the whole of COFFER_KEK; with several keys, %s", e.where, keyHelp)
		case f[0] != keyTag:
			return nil, fmt.Errorf("%s: not a key line (%s)", e.where, keyHelp)
		case len(f) != 3:
			return nil, fmt.Errorf("%s: %d fields, %s", e.where, len(f), keyHelp)
		case !validID(f[1]):
			// Not quoted: a line with its fields swapped would put the key here.
			return nil, fmt.Errorf("%s: the key id is not 8 lower-case hex digits", e.where)
		}
		if prev, dup := seen[f[1]]; dup {
			return nil, fmt.Errorf("%s: duplicate key id %s (also on %s)", e.where, f[1], prev)
		}
		seen[f[1]] = e.where
		key, err := decodeKey(f[2])
		if err != nil {
			return nil, fmt.Errorf("%s: key %s: %v", e.where, f[1], err)
		}
		k, err := newKEK(f[1], key)
		if err != nil {
			return nil, err
		}
		kr.keys = append(kr.keys, k)
	}
	return kr, nil
}

// decodeKey decodes a base64 KEK. Its errors never include the input.
func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("key is not valid standard base64")
	}
	if len(key) != kekSize {
		return nil, fmt.Errorf("key is %d bytes, want %d", len(key), kekSize)
	}
	return key, nil
}

func validID(id string) bool {
	if len(id) != idLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Marshal returns the keyring in key-file format, primary first. The result is as secret
// as the keys: write it only to a 0600 file or a backup that is protected like one.
func (k *Keyring) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(fileIntro)
	for _, kk := range k.keys {
		fmt.Fprintf(&b, "%s %s %s\n", keyTag, kk.id, base64.StdEncoding.EncodeToString(kk.key[:]))
	}
	return b.Bytes()
}

// PrimaryID returns the id of the key new files are encrypted to, or "" for an empty
// Keyring.
func (k *Keyring) PrimaryID() string {
	if len(k.keys) == 0 {
		return ""
	}
	return k.keys[0].id
}

// IDs returns the ids of all keys, primary first.
func (k *Keyring) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, kk := range k.keys {
		ids[i] = kk.id
	}
	return ids
}

func (k *Keyring) key(op errs.Op, id string) (*kek, error) {
	if kk := k.lookup(id); kk != nil {
		return kk, nil
	}
	if !validID(id) {
		return nil, errs.E(op, errs.Invalid, fmt.Sprintf("malformed key id %q (want 8 lower-case hex digits)", id))
	}
	return nil, errs.E(op, errs.NotFound, fmt.Sprintf("key-encryption key %s is not in the keyring (restore the key file that holds it)", id))
}

// CheckValue returns a value that identifies key id without revealing it:
// HMAC-SHA-256(kek, "coffer kek check v1"). The server stores it in the database at first
// start and refuses to start when the key file's value differs.
func (k *Keyring) CheckValue(id string) ([]byte, error) {
	kk, err := k.key("crypt.CheckValue", id)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, kk.key[:])
	m.Write([]byte(checkMsg))
	return m.Sum(nil), nil
}

// MAC computes HMAC-SHA-256 over msg with a key derived (HKDF, info "coffer mac v1 "+purpose)
// from KEK id. Used by the audit log to seal records; VerifyMAC is constant-time.
func (k *Keyring) MAC(id, purpose string, msg []byte) ([]byte, error) {
	kk, err := k.key("crypt.MAC", id)
	if err != nil {
		return nil, err
	}
	return kk.mac(purpose, msg), nil
}

// VerifyMAC reports whether mac is MAC(id, purpose, msg). It is false for an unknown id.
func (k *Keyring) VerifyMAC(id, purpose string, msg, mac []byte) bool {
	kk, err := k.key("crypt.VerifyMAC", id)
	if err != nil {
		return false
	}
	return hmac.Equal(kk.mac(purpose, msg), mac)
}

func (kk *kek) mac(purpose string, msg []byte) []byte {
	mk, err := hkdf.Key(sha256.New, kk.key[:], nil, macPrefix+purpose, sha256.Size)
	if err != nil {
		panic("crypt: HKDF-SHA-256 refused a 32-byte output: " + err.Error()) // unreachable
	}
	m := hmac.New(sha256.New, mk)
	m.Write(msg)
	return m.Sum(nil)
}

// Format prints only the key ids, so that no log line or %#v can ever show key bytes.
func (k Keyring) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "crypt.Keyring%v", k.IDs())
}
