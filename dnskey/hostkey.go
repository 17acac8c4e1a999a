package dnskey

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/oemesh/oemesh/internal/privkey"
)

// Host key types for GenerateHostKey.
const (
	HostKeyEd25519 = "ed25519"
	HostKeyRSA     = "rsa"
	HostKeyECDSA   = "ecdsa"
)

// GenerateHostKey makes a new private key: Ed25519; RSA of bits (2048–8192,
// 0 means 3072); or ECDSA on P-256 or P-384 (bits 256 or 384, 0 means 256).
func GenerateHostKey(kind string, bits int) (crypto.Signer, error) {
	switch kind {
	case HostKeyEd25519, "":
		if bits != 0 && bits != 256 {
			return nil, fmt.Errorf("ed25519 keys have no size choice; got --bits %d", bits)
		}
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	case HostKeyRSA:
		if bits == 0 {
			bits = 3072
		}
		if bits < 2048 || bits > 8192 {
			return nil, fmt.Errorf("RSA key size %d is outside 2048-8192", bits)
		}
		return rsa.GenerateKey(rand.Reader, bits)
	case HostKeyECDSA:
		var c elliptic.Curve
		switch bits {
		case 0, 256:
			c = elliptic.P256()
		case 384:
			c = elliptic.P384()
		default:
			return nil, fmt.Errorf("ECDSA key size %d: only 256 (P-256) and 384 (P-384) have an IPSECKEY encoding", bits)
		}
		return ecdsa.GenerateKey(c, rand.Reader)
	}
	return nil, fmt.Errorf("unknown key type %q (want ed25519, rsa or ecdsa)", kind)
}

// WriteHostKey stores key as PKCS#8 PEM at path with mode 0600. It refuses to
// replace an existing file unless force is set; with force the new key is
// written beside it and renamed over it, so a crash leaves one whole key.
func WriteHostKey(path string, key crypto.Signer, force bool) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("host key %s: %w", path, err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("host key %s: %w", path, err)
	}
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("host key %s already exists; refusing to overwrite it without --force", path)
		}
		if err != nil {
			return fmt.Errorf("host key %s: %w", path, err)
		}
		return finishKeyFile(f, data, path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".hostkey-*")
	if err != nil {
		return fmt.Errorf("host key %s: %w", path, err)
	}
	if err := finishKeyFile(f, data, path); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("host key %s: %w", path, err)
	}
	return nil
}

func finishKeyFile(f *os.File, data []byte, path string) error {
	// Chmod, because the umask could have made the file even stricter
	// (harmless) or, via CreateTemp's mode, anything else.
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("host key %s: %w", path, err)
	}
	return nil
}

// LoadHostKey reads a private key written by WriteHostKey (PKCS#8 PEM), or
// any other form internal/privkey reads. It refuses a file that group or
// others can read or write.
func LoadHostKey(path string) (crypto.Signer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("host key %s has mode %04o: others may read the private key; chmod 600 it", path, m)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	k, err := privkey.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w", path, err)
	}
	if ec, ok := k.(*ecdsa.PrivateKey); ok {
		// Only the curves an IPSECKEY record can carry.
		if _, _, err := MarshalPublicKey(ec.Public()); err != nil {
			return nil, fmt.Errorf("host key %s: %w", path, err)
		}
	}
	return k, nil
}
