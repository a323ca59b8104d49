package sftpd

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// Host key files in the host key directory, in the OpenSSH private key format (the same
// as sshd's /etc/ssh/ssh_host_*_key, so keys can be moved between the two).
const (
	ed25519KeyFile = "host_ed25519_key"
	rsaKeyFile     = "host_rsa_key"
	rsaKeyBits     = 3072
)

// hostKeyFiles are the host keys, in the order they are offered, with how to make each.
var hostKeyFiles = []struct {
	file string
	gen  func() (any, error)
}{
	{ed25519KeyFile, func() (any, error) { _, k, err := ed25519.GenerateKey(rand.Reader); return k, err }},
	{rsaKeyFile, func() (any, error) { return rsa.GenerateKey(rand.Reader, rsaKeyBits) }},
}

// LoadOrCreateHostKeys loads the server's host keys from dir, creating an Ed25519 and a
// 3072-bit RSA key (0600 files) on first start. created reports whether any key was made.
// The RSA key signs only with SHA-2 (rsa-sha2-512, rsa-sha2-256), never SHA-1.
// In a cluster, every node must use the same directory contents.
func LoadOrCreateHostKeys(dir string) (signers []ssh.Signer, created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("sftpd: cannot create the host key directory %q: %w", dir, err)
	}
	return loadHostKeys(dir, true)
}

// LoadHostKeys loads the host keys that LoadOrCreateHostKeys made in dir, creating none:
// for commands that report them while the server may run. An error wrapping
// fs.ErrNotExist says that a key is not there yet.
func LoadHostKeys(dir string) ([]ssh.Signer, error) {
	signers, _, err := loadHostKeys(dir, false)
	return signers, err
}

func loadHostKeys(dir string, create bool) (signers []ssh.Signer, created bool, err error) {
	for _, k := range hostKeyFiles {
		gen := k.gen
		if !create {
			gen = nil
		}
		s, made, err := loadOrCreate(filepath.Join(dir, k.file), gen)
		if err != nil {
			return nil, false, err
		}
		created = created || made
		signers = append(signers, s)
	}
	return signers, created, nil
}

// loadOrCreate loads the host key at path, creating it with gen when it is not there (a
// nil gen creates nothing).
func loadOrCreate(path string, gen func() (any, error)) (ssh.Signer, bool, error) {
	data, err := os.ReadFile(path)
	made := false
	switch {
	case errors.Is(err, fs.ErrNotExist) && gen == nil:
		return nil, false, fmt.Errorf("sftpd: no host key %q (the first start of 'coffer serve' with SFTP on makes it): %w", path, err)
	case errors.Is(err, fs.ErrNotExist):
		key, err := gen()
		if err != nil {
			return nil, false, fmt.Errorf("sftpd: cannot generate host key %q: %w", path, err)
		}
		block, err := ssh.MarshalPrivateKey(key, "coffer host key")
		if err != nil {
			return nil, false, fmt.Errorf("sftpd: cannot encode host key %q: %w", path, err)
		}
		data = pem.EncodeToMemory(block)
		// O_EXCL: two nodes starting at once on a shared directory must not overwrite
		// each other's fresh key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return loadOrCreate(path, gen)
		}
		if err != nil {
			return nil, false, fmt.Errorf("sftpd: cannot write host key %q: %w", path, err)
		}
		_, werr := f.Write(data)
		if serr := f.Sync(); werr == nil {
			werr = serr
		}
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, false, fmt.Errorf("sftpd: cannot write host key %q: %w", path, werr)
		}
		made = true
	case err != nil:
		return nil, false, fmt.Errorf("sftpd: cannot read host key %q: %w (run as the owner of the file or pass another --sftp-host-keys directory)", path, err)
	default:
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			return nil, false, fmt.Errorf("sftpd: host key %q is readable by others (mode %v): chmod 600 it", path, fi.Mode().Perm())
		}
	}
	s, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, false, fmt.Errorf("sftpd: cannot parse host key %q: %w", path, err)
	}
	if s.PublicKey().Type() == ssh.KeyAlgoRSA {
		as, ok := s.(ssh.AlgorithmSigner)
		if !ok {
			return nil, false, fmt.Errorf("sftpd: host key %q cannot sign with SHA-2", path)
		}
		ms, err := ssh.NewSignerWithAlgorithms(as, []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256})
		if err != nil {
			return nil, false, fmt.Errorf("sftpd: host key %q: %w", path, err)
		}
		s = ms
	}
	return s, made, nil
}

// Fingerprints describes host keys as OpenSSH prints them on first connection, e.g.
// "ED25519 SHA256:...", for the start-up banner, so users can check what they are told.
func Fingerprints(signers []ssh.Signer) []string {
	out := make([]string, 0, len(signers))
	for _, s := range signers {
		pub := s.PublicKey()
		out = append(out, keyTypeName(pub)+" "+ssh.FingerprintSHA256(pub))
	}
	return out
}

// keyTypeName names a host key's type as OpenSSH prints it: "ED25519", "RSA", "ECDSA".
func keyTypeName(pub ssh.PublicKey) string {
	switch pub.Type() {
	case ssh.KeyAlgoED25519:
		return "ED25519"
	case ssh.KeyAlgoRSA:
		return "RSA"
	case ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return "ECDSA"
	}
	return pub.Type()
}
