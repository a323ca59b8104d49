package crypt

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/coffer-mft/coffer/internal/errs"
)

// maxKeyFileSize bounds what LoadKeyFile reads: a key line is ~60 bytes.
const maxKeyFileSize = 1 << 20

// LoadKeyFile reads a key file (docs/format.md, "Key file"). It refuses a file that grants
// group or others any access, and says how to fix it: such a key may already have leaked,
// and one writable by others could be given an attacker's primary key.
func LoadKeyFile(path string) (*Keyring, error) {
	const op = errs.Op("crypt.LoadKeyFile")
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errs.E(op, errs.NotFound, fmt.Sprintf("key file %s does not exist (restore it from backup, or create a new one only if this server has never stored a file)", path))
		}
		return nil, errs.E(op, fmt.Errorf("cannot open key file: %w", err))
	}
	defer f.Close()
	fi, err := f.Stat() // of the opened file, so it cannot be swapped after the check
	if err != nil {
		return nil, errs.E(op, fmt.Errorf("cannot stat key file: %w", err))
	}
	if !fi.Mode().IsRegular() {
		return nil, errs.E(op, errs.Invalid, fmt.Sprintf("key file %s is not a regular file", path))
	}
	// Windows has no Unix permission bits; Go reports 0666 or 0444 for every file there.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, errs.E(op, errs.Permission, fmt.Sprintf("key file %s has mode %04o and is open to group or others; its keys may have leaked (run: chmod 600 %s)", path, perm, path))
	}
	text, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, errs.E(op, fmt.Errorf("cannot read key file: %w", err))
	}
	if len(text) > maxKeyFileSize {
		return nil, errs.E(op, errs.Invalid, fmt.Sprintf("key file %s is larger than %d bytes; is it the right file?", path, maxKeyFileSize))
	}
	kr, err := parseKeyring(string(text))
	if err != nil {
		return nil, errs.E(op, errs.Invalid, fmt.Errorf("key file %s: %w", path, err))
	}
	return kr, nil
}

// CreateKeyFile creates a key file holding one fresh primary key and returns its keyring.
// It never overwrites: an existing file may hold the only copy of the keys. The file is
// created with mode 0600 and synced, with its directory, before CreateKeyFile returns;
// missing parent directories are created with mode 0700.
func CreateKeyFile(path string) (*Keyring, error) {
	const op = errs.Op("crypt.CreateKeyFile")
	kr, err := NewKeyring()
	if err != nil {
		return nil, errs.E(op, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, errs.E(op, fmt.Errorf("cannot create the key file's directory: %w", err))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, errs.E(op, errs.Exist, fmt.Sprintf("key file %s already exists; refusing to overwrite it (it may hold the only copy of the keys)", path))
		}
		return nil, errs.E(op, fmt.Errorf("cannot create key file: %w", err))
	}
	_, err = f.Write(kr.Marshal())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		os.Remove(path) // a partial key file must not be mistaken for a good one
		return nil, errs.E(op, fmt.Errorf("cannot write key file %s: %w", path, err))
	}
	return kr, nil
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
