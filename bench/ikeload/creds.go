package main

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/edsig"
	"github.com/oemesh/oemesh/internal/rsasign"
)

// credentials is what the flags' authentication turns into for the
// engine and for each initiation.
type credentials struct {
	creds    ike.Credentials
	keys     ike.KeyResolver
	auth     ike.AuthKind // ours
	peerAuth ike.AuthKind // the responder's
	ikePol   ike.Policy
}

func (c *config) credentials() (*credentials, error) {
	cr := &credentials{}
	var err error
	if c.id != "" {
		if cr.creds.ID, err = parseID(c.id); err != nil {
			return nil, fmt.Errorf("-id: %w", err)
		}
	}
	if c.psk != "" {
		psk := []byte(c.psk)
		cr.creds.PSK = func(ike.Identity) []byte { return psk }
	}
	switch c.auth {
	case authPSK:
		cr.auth = ike.AuthKindPSK
	case authNull:
		cr.auth = ike.AuthKindNull
	case authEd25519, authRSA:
		cr.auth = ike.AuthKindPubkey
		if cr.creds.Signer, err = c.signer(); err != nil {
			return nil, err
		}
		// The initiators' RSA signatures through OpenSSL when it loads,
		// as oemeshd's crypto.rsa auto: crypto/rsa's 1 ms a signature on
		// the cores the responders share would set their rate.
		if c.auth == authRSA {
			if cr.creds.Signer, err = initiatorSigner(cr.creds.Signer); err != nil {
				return nil, err
			}
		}
	}
	switch c.peerAuth {
	case "psk":
		cr.peerAuth = ike.AuthKindPSK
	case "null":
		cr.peerAuth = ike.AuthKindNull
	case "key":
		cr.peerAuth = ike.AuthKindPubkey
		key, err := dnskey.LoadPublicKeyPEM(c.peerKeyFile)
		if err != nil {
			return nil, fmt.Errorf("-peer-key: %w", err)
		}
		cr.keys = staticKey{key}
	}
	if cr.keys == nil {
		cr.keys = staticKey{}
	}
	cr.ikePol = ike.PQOff.IKEPolicy()
	if c.kex == kexHybrid {
		cr.ikePol = ike.PQRequire.IKEPolicy()
	}
	return cr, nil
}

// initiatorSigner gives an Ed25519 key edsig's signer, and an RSA key
// OpenSSL's signer when libcrypto loads (rsasign's auto), warning on
// stderr when it does not.
func initiatorSigner(k crypto.Signer) (crypto.Signer, error) {
	s, err := rsasign.New(rsasign.Config{Backend: rsasign.Auto,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return nil, err
	}
	return s.Wrap(edsig.Wrap(k))
}

// signer loads -key, or makes a key of -auth's kind.
func (c *config) signer() (crypto.Signer, error) {
	if c.keyFile != "" {
		k, err := dnskey.LoadHostKey(c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("-key: %w", err)
		}
		if kindOf(k) != c.auth {
			return nil, fmt.Errorf("-key %s holds an %s key, but -auth is %s", c.keyFile, kindOf(k), c.auth)
		}
		return k, nil
	}
	return generate(c.auth)
}

func generate(a authMethod) (crypto.Signer, error) {
	switch a {
	case authEd25519:
		return dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	case authRSA:
		return dnskey.GenerateHostKey(dnskey.HostKeyRSA, 2048)
	}
	return nil, fmt.Errorf("no key for -auth %s", a)
}

func kindOf(k crypto.Signer) authMethod {
	switch strings.ToLower(fmt.Sprintf("%T", k.Public())) {
	case "ed25519.publickey":
		return authEd25519
	case "*rsa.publickey":
		return authRSA
	}
	return authMethod(fmt.Sprintf("%T", k.Public()))
}

// parseID reads -id: @fqdn (or a bare name) or an address.
func parseID(s string) (ike.Identity, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		return ike.AddrIdentity(a.Unmap()), nil
	}
	name := strings.TrimSuffix(strings.TrimPrefix(s, "@"), ".")
	if name == "" || strings.ContainsAny(name, " \t@") {
		return ike.Identity{}, fmt.Errorf("%q: want @fqdn or an IP address", s)
	}
	return ike.FQDNIdentity(name), nil
}

// staticKey is the initiators' KeyResolver: the responder's one key
// (none when it does not sign).
type staticKey struct{ key crypto.PublicKey }

func (s staticKey) PeerKeys(context.Context, ike.Identity, netip.Addr) ([]crypto.PublicKey, error) {
	if s.key == nil {
		return nil, fmt.Errorf("no -peer-key given: %w", ike.ErrNoKey)
	}
	return []crypto.PublicKey{s.key}, nil
}

// runKeys is `ikeload keys`: a key pair for the initiators and one for
// the responder, as PKCS#8 (the private keys, mode 0600) and
// SubjectPublicKeyInfo PEM (the public ones), the forms oemeshd,
// `oemesh respond` and strongSwan's swanctl read.
func runKeys(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ikeload keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	auth := fs.String("auth", "ed25519", "key kind: ed25519 or rsa (2048 bits)")
	out := fs.String("out", "", "the `directory` to write initiator.key, initiator.pub, responder.key and responder.pub into (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a := authMethod(strings.ToLower(*auth))
	if a != authEd25519 && a != authRSA {
		return fmt.Errorf("keys -auth %q: want ed25519 or rsa", *auth)
	}
	if *out == "" {
		return fmt.Errorf("keys: -out DIR is required")
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("keys -out: %w", err)
	}
	for _, who := range []string{"initiator", "responder"} {
		k, err := generate(a)
		if err != nil {
			return err
		}
		if err := dnskey.WriteHostKey(filepath.Join(*out, who+".key"), k, true); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
		if err := writePublicKey(filepath.Join(*out, who+".pub"), k.Public()); err != nil {
			return fmt.Errorf("keys: %w", err)
		}
	}
	fmt.Fprintf(stdout, "%s key pairs in %s: initiator.key, initiator.pub, responder.key, responder.pub\n", a, *out)
	return nil
}

func writePublicKey(path string, pub crypto.PublicKey) error {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}
