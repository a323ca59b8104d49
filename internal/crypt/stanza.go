package crypt

import (
	"crypto/rand"
	"fmt"
	"strings"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// The coffer-kek stanzas, byte-exactly as in docs/format.md:
//
//	-> coffer-kek2 <id>
//	base64(nonce[24] || XChaCha20-Poly1305(wrapping key, nonce, file key[16], "coffer-kek2 <id>"))
//
// The type names the payload's cipher (suite.go): coffer-kek (version 1) or coffer-kek2.
const (
	stanzaV1    = "coffer-kek"
	stanzaV2    = "coffer-kek2"
	fileKeySize = 16
	wrappedSize = chacha20poly1305.NonceSizeX + fileKeySize + chacha20poly1305.Overhead
)

// wrapAD is the associated data of a wrapped file key: it binds the key to its stanza type
// (so to its payload cipher) and KEK id.
func wrapAD(stanzaType, id string) []byte { return []byte(stanzaType + " " + id) }

// recipient wraps file keys to one KEK, for a payload of the given suite.
type recipient struct {
	k     *kek
	suite suite
}

func (r recipient) Wrap(fileKey []byte) ([]*age.Stanza, error) {
	if len(fileKey) != fileKeySize {
		return nil, fmt.Errorf("crypt: file key is %d bytes, want %d", len(fileKey), fileKeySize)
	}
	body := make([]byte, chacha20poly1305.NonceSizeX, wrappedSize)
	rand.Read(body)
	typ := r.suite.stanzaType()
	body = r.k.wrap.Seal(body, body, fileKey, wrapAD(typ, r.k.id))
	return []*age.Stanza{{Type: typ, Args: []string{r.k.id}, Body: body}}, nil
}

// identity unwraps file keys with any KEK of a keyring. If suite is not nil, Unwrap
// stores there the payload cipher that the unwrapped stanza names.
type identity struct {
	kr    *Keyring
	suite *suite
}

// unwrap returns a header's file key and its payload's cipher. Errors are age's.
func (k *Keyring) unwrap(header []byte) ([]byte, suite, error) {
	var s suite
	fileKey, err := age.DecryptHeader(header, identity{kr: k, suite: &s})
	return fileKey, s, err
}

// missingKeyError reports coffer-kek stanzas for KEKs the keyring does not hold. It is an
// age.ErrIncorrectIdentity, so that age goes on to report no match, and Open can still
// name the ids from age's NoIdentityMatchError.
type missingKeyError struct{ ids []string }

func (e *missingKeyError) Error() string {
	return "the file key is wrapped to key-encryption key " + strings.Join(e.ids, ", ") + ", which is not in the keyring"
}

func (e *missingKeyError) Is(target error) bool { return target == age.ErrIncorrectIdentity }

// unwrapError reports a coffer-kek stanza for a KEK we hold that is malformed or does not
// open: the header was altered, or the key file has another key under that id.
type unwrapError struct{ msg string }

func (e *unwrapError) Error() string { return e.msg }

// Unwrap returns the file key from the first coffer-kek stanza whose KEK the keyring holds.
// Stanzas of other types and for other KEKs are an age.ErrIncorrectIdentity; a stanza of
// ours that is malformed or does not open is an error, which age reports as fatal.
func (id identity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	var missing []string
	for _, s := range stanzas {
		st := suiteOf(s.Type)
		if st == 0 {
			continue
		}
		if len(s.Args) != 1 || !validID(s.Args[0]) {
			return nil, &unwrapError{"malformed coffer-kek stanza: want one argument, an 8 hex digit key id"}
		}
		kk := id.kr.lookup(s.Args[0])
		if kk == nil {
			missing = append(missing, s.Args[0])
			continue
		}
		if len(s.Body) != wrappedSize {
			// A fixed size also rules out ciphertexts crafted to open under several keys.
			return nil, &unwrapError{fmt.Sprintf("the coffer-kek stanza for key %s has a %d-byte body, want %d", kk.id, len(s.Body), wrappedSize)}
		}
		nonce, sealed := s.Body[:chacha20poly1305.NonceSizeX], s.Body[chacha20poly1305.NonceSizeX:]
		fileKey, err := kk.wrap.Open(nil, nonce, sealed, wrapAD(s.Type, kk.id))
		if err != nil {
			return nil, &unwrapError{fmt.Sprintf("the file key wrapped to key %s does not open: the key file holds another key under this id, or the header was altered", kk.id)}
		}
		if id.suite != nil {
			*id.suite = st
		}
		return fileKey, nil
	}
	if len(missing) > 0 {
		return nil, &missingKeyError{missing}
	}
	return nil, age.ErrIncorrectIdentity
}

func (k *Keyring) lookup(id string) *kek {
	for _, kk := range k.keys {
		if kk.id == id {
			return kk
		}
	}
	return nil
}
