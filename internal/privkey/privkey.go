package privkey

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// Parse parses a private key: PEM "PRIVATE KEY" (PKCS#8, the format oemesh
// writes), "RSA PRIVATE KEY" (PKCS#1) or "EC PRIVATE KEY" (SEC1), or the
// same in DER. The key must be RSA, ECDSA or Ed25519: the kinds that sign
// IKE AUTH payloads. Encrypted keys are refused.
func Parse(data []byte) (crypto.Signer, error) {
	if !bytes.Contains(data, []byte("-----BEGIN ")) {
		return parseDER(data)
	}
	var b *pem.Block
	for {
		b, data = pem.Decode(data)
		if b == nil {
			return nil, errors.New("no PEM private key block")
		}
		if b.Type != "EC PARAMETERS" { // openssl ecparam -genkey writes it first
			break
		}
	}
	if _, enc := b.Headers["DEK-Info"]; enc || b.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, errors.New("the key is encrypted: store it unencrypted, readable only by root")
	}
	switch b.Type {
	case "PRIVATE KEY":
		return pkcs8(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PKCS#1 RSA key: %w", err)
		}
		return k, nil
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("SEC1 EC key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("PEM block is %q, not a private key", b.Type)
}

// parseDER tries the three DER encodings in turn.
func parseDER(data []byte) (crypto.Signer, error) {
	if k, err := pkcs8(data); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(data); err == nil {
		return k, nil
	}
	return nil, errors.New("neither PEM nor a DER PKCS#8, PKCS#1 or SEC1 private key")
}

func pkcs8(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("PKCS#8 key: %w", err)
	}
	switch k := k.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
		return k.(crypto.Signer), nil
	}
	return nil, fmt.Errorf("PKCS#8 key of type %T cannot sign IKE AUTH payloads", k)
}

// Load reads a private key file (see Parse). Its errors name the file.
func Load(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	k, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("private key file %s: %w", path, err)
	}
	return k, nil
}
