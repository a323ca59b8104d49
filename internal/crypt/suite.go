package crypt

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"

	"golang.org/x/crypto/chacha20poly1305"
)

// suite is the cipher of a file's payload (docs/format.md, "Payload ciphers"). The type
// of the stanza that wraps the file key names it, so the header MAC authenticates the
// choice, and the wrapped key's associated data binds the key to it.
type suite uint8

const (
	// suiteChaCha is format version 1: the age v1 payload, ChaCha20-Poly1305 STREAM;
	// header || payload is a standard age file. Files written before version 2 are read.
	suiteChaCha suite = 1
	// suiteAES is format version 2: the same STREAM chunks sealed with AES-256-GCM,
	// which processors with AES instructions seal and open several times faster. New
	// files are written with it.
	suiteAES suite = 2
)

// writeSuite is the cipher of new files.
const writeSuite = suiteAES

// suiteOf returns the suite a stanza type names, or 0 for a type that is not ours.
func suiteOf(stanzaType string) suite {
	switch stanzaType {
	case stanzaV1:
		return suiteChaCha
	case stanzaV2:
		return suiteAES
	}
	return 0
}

func (s suite) stanzaType() string {
	if s == suiteAES {
		return stanzaV2
	}
	return stanzaV1
}

// payloadAEAD returns the AEAD that seals the chunks of a payload with this nonce.
func (s suite) payloadAEAD(fileKey, nonce []byte) (cipher.AEAD, error) {
	if s == suiteAES {
		key, err := hkdf.Key(sha256.New, fileKey, nonce, "coffer payload aes-256-gcm v2", 32)
		if err != nil {
			return nil, err
		}
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		return cipher.NewGCM(b)
	}
	key, err := hkdf.Key(sha256.New, fileKey, nonce, "payload", chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	return chacha20poly1305.New(key)
}
