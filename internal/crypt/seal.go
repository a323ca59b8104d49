package crypt

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/coffer-mft/coffer/internal/errs"
)

// Sealed secrets, version 1 (docs/format.md, "Sealed secrets"): short secrets that the
// server must read back, such as TOTP keys, stored in the database under a key derived
// from a KEK:
//
//	seal key = HKDF-SHA-256(IKM = KEK, salt = empty, info = "coffer seal v1 " || purpose), 32 bytes
//	sealed   = 0x01 || nonce[24] || XChaCha20-Poly1305(seal key, nonce, secret, AD)
//	AD       = "coffer seal v1" || 0x00 || key id || 0x00 || purpose || 0x00 || binding
//
// The caller stores the key id beside the sealed bytes, so that a secret sealed under an
// older KEK still opens after a new key became primary.
const (
	sealVersion   = 0x01
	sealPrefix    = "coffer seal v1"
	sealOverhead  = 1 + chacha20poly1305.NonceSizeX + chacha20poly1305.Overhead
	MaxSecretSize = 1024 // the longest secret SealSecret accepts
)

// SealSecret encrypts secret (1 to MaxSecretSize bytes) under a key derived from the
// primary KEK for purpose (e.g. "totp"), bound to binding (e.g. "user 42"): the sealed
// bytes open only with the same key id, purpose and binding. It returns the key id to store
// with the sealed bytes.
func (k *Keyring) SealSecret(purpose string, binding, secret []byte) (keyID string, sealed []byte, err error) {
	const op = errs.Op("crypt.SealSecret")
	if len(secret) == 0 || len(secret) > MaxSecretSize {
		return "", nil, errs.E(op, errs.Invalid, fmt.Sprintf("a sealed secret must have 1 to %d bytes, not %d", MaxSecretSize, len(secret)))
	}
	if len(k.keys) == 0 {
		return "", nil, errs.E(op, errs.NotFound, "the keyring holds no key")
	}
	kk := k.keys[0]
	aead := kk.sealAEAD(purpose)
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, len(secret)+sealOverhead)
	out[0] = sealVersion
	rand.Read(out[1:])
	out = aead.Seal(out, out[1:], secret, sealAD(kk.id, purpose, binding))
	return kk.id, out, nil
}

// OpenSecret returns the secret that SealSecret sealed under key id for purpose and
// binding. Errors: NotFound (the key is not in the keyring: restore the key file that holds
// it), Integrity (the sealed bytes are malformed, were altered, or were sealed for another
// purpose, binding or key). It fails closed: no partial secret is ever returned.
func (k *Keyring) OpenSecret(keyID, purpose string, binding, sealed []byte) ([]byte, error) {
	const op = errs.Op("crypt.OpenSecret")
	kk, err := k.key(op, keyID)
	if err != nil {
		return nil, err
	}
	if len(sealed) < sealOverhead+1 || len(sealed) > sealOverhead+MaxSecretSize {
		return nil, errs.E(op, errs.Integrity, fmt.Sprintf("a sealed secret of %d bytes is malformed", len(sealed)))
	}
	if sealed[0] != sealVersion {
		return nil, errs.E(op, errs.Integrity, fmt.Sprintf("sealed secret version %d is unknown (this Coffer reads version %d)", sealed[0], sealVersion))
	}
	nonce, ct := sealed[1:1+chacha20poly1305.NonceSizeX], sealed[1+chacha20poly1305.NonceSizeX:]
	secret, err := kk.sealAEAD(purpose).Open(nil, nonce, ct, sealAD(kk.id, purpose, binding))
	if err != nil {
		return nil, errs.E(op, errs.Integrity, "the sealed secret does not open: it was altered, or sealed for another user or purpose")
	}
	return secret, nil
}

func (kk *kek) sealAEAD(purpose string) cipher.AEAD {
	sk, err := hkdf.Key(sha256.New, kk.key[:], nil, sealPrefix+" "+purpose, chacha20poly1305.KeySize)
	if err != nil {
		panic("crypt: HKDF-SHA-256 refused a 32-byte output: " + err.Error()) // unreachable
	}
	aead, err := chacha20poly1305.NewX(sk)
	if err != nil {
		panic("crypt: XChaCha20-Poly1305 refused a 32-byte key: " + err.Error()) // unreachable
	}
	return aead
}

func sealAD(keyID, purpose string, binding []byte) []byte {
	ad := make([]byte, 0, len(sealPrefix)+len(keyID)+len(purpose)+len(binding)+3)
	ad = append(ad, sealPrefix...)
	ad = append(ad, 0)
	ad = append(ad, keyID...)
	ad = append(ad, 0)
	ad = append(ad, purpose...)
	ad = append(ad, 0)
	return append(ad, binding...)
}
