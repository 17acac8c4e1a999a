package ipsecconf

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/oemesh/oemesh/dnskey"
)

// rsaSigKeyDER turns an RFC 3110 key (0s base64 or 0x hex) into PKIX DER.
func rsaSigKeyDER(v string) ([]byte, error) {
	var raw []byte
	var err error
	if strings.HasPrefix(v, "0s") {
		raw, err = base64.StdEncoding.DecodeString(v[2:])
	} else {
		raw, err = hex.DecodeString(strings.ReplaceAll(v[2:], "_", ""))
	}
	if err != nil {
		return nil, fmt.Errorf("RSA key encoding: %w", err)
	}
	k, err := dnskey.ParseRSAKey(raw)
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKIXPublicKey(k)
}
