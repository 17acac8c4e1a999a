package main

import (
	"crypto"
	"fmt"
	"io"
	"log/slog"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/edsig"
	"github.com/oemesh/oemesh/internal/rsasign"
)

// startRSA chooses what signs with RSA keys (crypto.rsa) before any key
// is read: the host key, oe.cert_key and the cert conns' keys. rsasign
// logs the choice, and why when crypto/rsa signs under auto.
func (d *daemon) startRSA() error {
	backend, err := rsasign.ParseBackend(d.cfg.Crypto.RSA)
	if err != nil {
		return fmt.Errorf("crypto.rsa: %w", err)
	}
	if d.rsa, err = rsasign.New(rsasign.Config{Backend: backend, Logger: d.log}); err != nil {
		return err
	}
	d.conns.certs.keys = d.rsa
	return nil
}

// loadHostKey reads the host key at path and gives an RSA key the signer
// crypto.rsa chose (d.rsa; nil before startRSA: the key as read), an
// Ed25519 key edsig's.
func (d *daemon) loadHostKey(path string) (crypto.Signer, error) {
	k, err := dnskey.LoadHostKey(path)
	if err != nil {
		return nil, err
	}
	w, err := wrapKey(d.rsa, k)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w", path, err)
	}
	return w, nil
}

// wrapKey gives a key read from a file the signer oemeshd signs with:
// edsig's for an Ed25519 key, and for an RSA key the one keys chose
// (crypto.rsa; nil keys: crypto/rsa). Every key the daemon loads goes
// through it: the host key, oe.cert_key, the cert conns' keys.
func wrapKey(keys *rsasign.Signers, k crypto.Signer) (crypto.Signer, error) {
	k = edsig.Wrap(k)
	if keys == nil {
		return k, nil
	}
	return keys.Wrap(k)
}

// checkRSA is --check-config's part for crypto.rsa: it loads libcrypto as
// oemeshd would and says what will sign with RSA keys, and why.
func checkRSA(out io.Writer, cfg *config.Config) error {
	backend, err := rsasign.ParseBackend(cfg.Crypto.RSA)
	if err != nil {
		return fmt.Errorf("crypto.rsa: %w", err)
	}
	s, err := rsasign.New(rsasign.Config{Backend: backend, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "crypto.rsa: %s: RSA keys sign with %s (%s)\n", backend, s.Backend(), s.Detail())
	return nil
}
