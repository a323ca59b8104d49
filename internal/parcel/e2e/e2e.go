// Package e2e implements the end-to-end format of parcels, coffer-parcel-1, as
// docs/parcels.md specifies it: keys from the link's fragment secret (and a passphrase),
// files sealed in 64 KiB AES-256-GCM chunks, sealed file metadata and the sealed
// manifest. Clients use it; the server never does (it has no keys).
package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// Format constants (docs/parcels.md).
const (
	Magic         = "coffer-parcel-1\n"
	HeaderSize    = len(Magic) + NonceSize
	NonceSize     = 16
	ChunkSize     = 64 << 10
	sealedChunk   = ChunkSize + 16
	SecretSize    = 32
	SaltSize      = 16
	Iterations    = 600000
	fragmentTag   = "e1."
	metaPadding   = 128
	manifestAAD   = "coffer-parcel-1 manifest"
	infoFile      = "coffer-parcel-1 file"
	infoManifest  = "coffer-parcel-1 manifest"
	infoVerifier  = "coffer-parcel-1 verifier"
	metaNoncePart = 1 // the first four bytes of the metadata's nonce; chunks use 0
)

// ErrAuth is the error of anything that fails authentication: a wrong key or passphrase,
// or data that was changed, truncated, extended or reordered.
var ErrAuth = errors.New("the data failed authentication: a wrong key or passphrase, or it was tampered with")

var b64 = base64.RawURLEncoding

// Secret is a parcel's link secret S, carried in the link's fragment.
type Secret [SecretSize]byte

// NewSecret returns a random secret.
func NewSecret() Secret {
	var s Secret
	rand.Read(s[:])
	return s
}

// Fragment is the secret as a link's fragment, without the "#".
func (s Secret) Fragment() string { return fragmentTag + b64.EncodeToString(s[:]) }

// ParseFragment reads a link's fragment (with or without the "#").
func ParseFragment(f string) (Secret, error) {
	var s Secret
	f = strings.TrimPrefix(f, "#")
	v, ok := strings.CutPrefix(f, fragmentTag)
	if !ok {
		return s, fmt.Errorf("the link's key (after #) must start with %q: was the link cut short?", fragmentTag)
	}
	// The decoder skips CR and LF, so a key with a line break in it would decode; the
	// length check refuses it, as the browser's decoder does. Strict: the last character
	// carries bits beyond the key's 256, which must be zero, so that one key has one
	// spelling (the browser checks the same).
	b, err := b64.Strict().DecodeString(v)
	if err != nil || len(b) != SecretSize || len(v) != b64.EncodedLen(SecretSize) {
		return s, errors.New("the link's key (after #) is malformed: was the link cut short?")
	}
	copy(s[:], b)
	return s, nil
}

// NewSalt returns a random KDF salt for a passphrase.
func NewSalt() []byte {
	b := make([]byte, SaltSize)
	rand.Read(b)
	return b
}

// Passphrase derives from a passphrase and the parcel's salt the key part P and the
// verifier that the server checks in place of the passphrase.
func Passphrase(passphrase string, salt []byte) (p []byte, verifier string, err error) {
	if len(salt) != SaltSize {
		return nil, "", fmt.Errorf("the passphrase salt must be %d bytes", SaltSize)
	}
	p, err = pbkdf2.Key(sha256.New, passphrase, salt, Iterations, 32)
	if err != nil {
		return nil, "", err
	}
	v, err := hkdf.Key(sha256.New, p, salt, infoVerifier, 32)
	if err != nil {
		return nil, "", err
	}
	return p, b64.EncodeToString(v), nil
}

// Keys are a parcel's keys: from S, and P when it has a passphrase.
type Keys struct{ ikm []byte }

// NewKeys returns the keys of secret s and passphrase part p (nil without a passphrase).
func NewKeys(s Secret, p []byte) Keys {
	return Keys{ikm: append(append([]byte{}, s[:]...), p...)}
}

func (k Keys) fileAEAD(nonce []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, k.ikm, nonce, infoFile, 32)
	if err != nil {
		return nil, err
	}
	return newGCM(key)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// Meta is what a file's sealed metadata holds.
type Meta struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // hex
	nonce  []byte
}

// File is a file being sealed: its nonce, key and metadata.
type File struct {
	Meta     Meta
	Sealed   string // the sealed metadata, as the server stores it
	aead     cipher.AEAD
	header   []byte
	Nonce    string // base64url of the file's nonce, as the manifest lists it
	wantSize int64
}

func header(nonce []byte) []byte { return append([]byte(Magic), nonce...) }

func metaNonce() []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint32(n, metaNoncePart)
	return n
}

// NewFile prepares a file of the given name, size and SHA-256 for sealing.
func (k Keys) NewFile(name string, size int64, sum []byte) (*File, error) {
	nonce := make([]byte, NonceSize)
	rand.Read(nonce)
	aead, err := k.fileAEAD(nonce)
	if err != nil {
		return nil, err
	}
	m := Meta{Name: name, Size: size, SHA256: hex.EncodeToString(sum), nonce: nonce}
	js, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	// Pad with spaces (valid trailing JSON whitespace) to hide the name's length.
	js = append(js, bytes.Repeat([]byte(" "), metaPadding-len(js)%metaPadding)...)
	h := header(nonce)
	sealed := aead.Seal(append([]byte{}, nonce...), metaNonce(), js, append(h, "meta"...))
	return &File{Meta: m, Sealed: b64.EncodeToString(sealed), aead: aead, header: h, Nonce: b64.EncodeToString(nonce), wantSize: size}, nil
}

// SealedSize is the size of a sealed file of n plaintext bytes.
func SealedSize(n int64) int64 {
	chunks := max(1, (n+ChunkSize-1)/ChunkSize)
	return int64(HeaderSize) + n + 16*chunks
}

func chunkAAD(h []byte, i uint64, final bool) []byte {
	aad := binary.BigEndian.AppendUint64(append([]byte{}, h...), i)
	if final {
		return append(aad, 1)
	}
	return append(aad, 0)
}

func chunkNonce(i uint64) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], i)
	return n
}

// Encrypt writes the sealed stream of src, which must have the size given to NewFile.
// Memory stays at two chunks whatever the size.
func (f *File) Encrypt(dst io.Writer, src io.Reader) error {
	if _, err := dst.Write(f.header); err != nil {
		return err
	}
	cur, next := make([]byte, ChunkSize), make([]byte, ChunkSize)
	out := make([]byte, 0, sealedChunk)
	n, err := readFull(src, cur)
	if err != nil {
		return err
	}
	total := int64(n)
	for i := uint64(0); ; i++ {
		m := 0
		if n == ChunkSize {
			if m, err = readFull(src, next); err != nil {
				return err
			}
		}
		final := m == 0
		out = f.aead.Seal(out[:0], chunkNonce(i), cur[:n], chunkAAD(f.header, i, final))
		if _, err := dst.Write(out); err != nil {
			return err
		}
		if final {
			break
		}
		cur, next, n = next, cur, m
		total += int64(m)
	}
	if total != f.wantSize {
		return fmt.Errorf("the file was %d bytes, not the %d announced: did it change while it was sent?", total, f.wantSize)
	}
	return nil
}

// readFull reads until buf is full or src ends, returning how much it read; only errors
// other than the end are errors.
func readFull(src io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(src, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return n, err
}

// OpenMeta opens a file's sealed metadata. Errors: ErrAuth, or a malformed one.
func (k Keys) OpenMeta(sealed string) (Meta, error) {
	b, err := b64.DecodeString(sealed)
	if err != nil || len(b) < NonceSize+16 {
		return Meta{}, errors.New("malformed file metadata")
	}
	nonce := b[:NonceSize]
	aead, err := k.fileAEAD(nonce)
	if err != nil {
		return Meta{}, err
	}
	js, err := aead.Open(nil, metaNonce(), b[NonceSize:], append(header(nonce), "meta"...))
	if err != nil {
		return Meta{}, ErrAuth
	}
	var m Meta
	if err := json.Unmarshal(js, &m); err != nil || m.Size < 0 || len(m.SHA256) != 64 {
		return Meta{}, errors.New("malformed file metadata")
	}
	m.nonce = nonce
	return m, nil
}

// Nonce is the file's nonce in base64url, as the manifest lists it.
func (m Meta) Nonce() string { return b64.EncodeToString(m.nonce) }

// Decrypt reads the sealed stream of the file m describes from src and writes its
// plaintext to dst. It fails (ErrAuth) on any change, truncation, extension or
// reordering, and when the plaintext's size or SHA-256 differ from m's. dst has then
// received unauthenticated bytes: write to a temporary file and keep it only on success.
func (k Keys) Decrypt(dst io.Writer, src io.Reader, m Meta) error {
	h := make([]byte, HeaderSize)
	if _, err := io.ReadFull(src, h); err != nil {
		return ErrAuth
	}
	if !bytes.Equal(h, header(m.nonce)) {
		return ErrAuth
	}
	aead, err := k.fileAEAD(m.nonce)
	if err != nil {
		return err
	}
	sum := sha256.New()
	w := io.MultiWriter(dst, sum)
	cur, next := make([]byte, sealedChunk), make([]byte, sealedChunk)
	plain := make([]byte, 0, ChunkSize)
	n, err := readFull(src, cur)
	if err != nil {
		return err
	}
	var total int64
	for i := uint64(0); ; i++ {
		m := 0
		if n == sealedChunk {
			if m, err = readFull(src, next); err != nil {
				return err
			}
		}
		final := m == 0
		if n < 16 || (final && n == 16 && i > 0) {
			return ErrAuth
		}
		plain, err = aead.Open(plain[:0], chunkNonce(i), cur[:n], chunkAAD(h, i, final))
		if err != nil {
			return ErrAuth
		}
		if _, err := w.Write(plain); err != nil {
			return err
		}
		total += int64(len(plain))
		if final {
			break
		}
		cur, next, n = next, cur, m
	}
	return check(total, sum, m)
}

func check(total int64, sum hash.Hash, m Meta) error {
	if total != m.Size || hex.EncodeToString(sum.Sum(nil)) != m.SHA256 {
		return fmt.Errorf("%w (the file's size or SHA-256 differ from its metadata)", ErrAuth)
	}
	return nil
}

// Manifest is the sealed list of a send parcel's files, with its message.
type Manifest struct {
	Message string   `json:"message"`
	Files   []string `json:"files"` // the files' nonces, base64url
}

func (k Keys) manifestAEAD() (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, k.ikm, nil, infoManifest, 32)
	if err != nil {
		return nil, err
	}
	return newGCM(key)
}

// SealManifest seals m for the server to keep.
func (k Keys) SealManifest(m Manifest) (string, error) {
	aead, err := k.manifestAEAD()
	if err != nil {
		return "", err
	}
	js, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, 12)
	rand.Read(nonce)
	return b64.EncodeToString(aead.Seal(nonce, nonce, js, []byte(manifestAAD))), nil
}

// OpenManifest opens a sealed manifest. Errors: ErrAuth, or a malformed one.
func (k Keys) OpenManifest(sealed string) (Manifest, error) {
	b, err := b64.DecodeString(sealed)
	if err != nil || len(b) < 12+16 {
		return Manifest{}, errors.New("malformed manifest")
	}
	aead, err := k.manifestAEAD()
	if err != nil {
		return Manifest{}, err
	}
	js, err := aead.Open(nil, b[:12], b[12:], []byte(manifestAAD))
	if err != nil {
		return Manifest{}, ErrAuth
	}
	var m Manifest
	if err := json.Unmarshal(js, &m); err != nil {
		return Manifest{}, errors.New("malformed manifest")
	}
	return m, nil
}
