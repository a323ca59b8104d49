package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// TLSConfig returns the server's TLS configuration: TLS 1.2 and 1.3 with forward-secret
// AEAD cipher suites only. Without a configured certificate it uses a self-signed one
// generated once into DATA/tls. fingerprint is the certificate's SHA-256, for clients
// to pin or check.
func (c *Core) TLSConfig() (cfg *tls.Config, fingerprint string, generated bool, err error) {
	certFile, keyFile := c.Config.TLSCert, c.Config.TLSKey
	if (certFile == "") != (keyFile == "") {
		return nil, "", false, errors.New("give both --tls-cert and --tls-key, or neither (for a self-signed certificate)")
	}
	if certFile == "" {
		dir := filepath.Join(c.Config.DataDir, "tls")
		certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if _, err := os.Stat(certFile); errors.Is(err, fs.ErrNotExist) {
			if err := selfSign(dir, certFile, keyFile); err != nil {
				return nil, "", false, fmt.Errorf("cannot create a self-signed certificate in %s: %w", dir, err)
			}
			generated = true
		}
	}
	// The generated key is ours and must be private to us; a configured one may be shared
	// with a group (as ssl-cert on Debian), never with everyone.
	open := fs.FileMode(0o007)
	if c.Config.TLSKey == "" {
		open = 0o077
	}
	if err := checkKeyMode(keyFile, "TLS key", open); err != nil {
		return nil, "", false, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, "", false, fmt.Errorf("cannot load the TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	cfg = &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// TLS 1.3 suites are not configurable and all good; for 1.2, ECDHE + AEAD only.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		// HTTP/1.1 only: for bulk transfers Go's HTTP/2 costs more CPU per byte and its
		// flow-control windows halved throughput on loopback (docs/performance.md).
		NextProtos: []string{"http/1.1"},
	}
	return cfg, formatFingerprint(sum[:]), generated, nil
}

// checkKeyMode refuses a private key file whose mode has any of the bits in open.
func checkKeyMode(path, what string, open fs.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return nil // loading it reports the problem
	}
	if perm := fi.Mode().Perm(); perm&open != 0 && runtime.GOOS != "windows" {
		return fmt.Errorf("%s %s has mode %04o and is readable by others; the key may have leaked (run: chmod 600 %s)", what, path, perm, path)
	}
	return nil
}

func formatFingerprint(sum []byte) string {
	h := strings.ToUpper(hex.EncodeToString(sum))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// selfSign writes an ECDSA P-256 certificate valid for two years for localhost, the
// loopback addresses and this host's name.
func selfSign(dir, certFile, keyFile string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	names := []string{"localhost"}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		names = append(names, h)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: names[len(names)-1], Organization: []string{"Coffer self-signed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(2 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              names,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileExcl(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return writeFileExcl(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func writeFileExcl(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
