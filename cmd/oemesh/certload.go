package main

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"os"
	"strings"

	"github.com/oemesh/oemesh/ike"
)

// loadCertsPEM reads the CERTIFICATE blocks of a PEM file, in order.
func loadCertsPEM(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: PEM block %d is %q, want CERTIFICATE", path, n, block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: certificate %d: %w", path, n, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", path)
	}
	return out, nil
}

// dnAttributes are the attribute names a DN ID may use, as strongSwan
// writes them.
var dnAttributes = map[string]asn1.ObjectIdentifier{
	"C":            {2, 5, 4, 6},
	"ST":           {2, 5, 4, 8},
	"L":            {2, 5, 4, 7},
	"O":            {2, 5, 4, 10},
	"OU":           {2, 5, 4, 11},
	"CN":           {2, 5, 4, 3},
	"SN":           {2, 5, 4, 5},
	"SERIALNUMBER": {2, 5, 4, 5},
	"DC":           {0, 9, 2342, 19200300, 100, 1, 25},
	"E":            {1, 2, 840, 113549, 1, 9, 1},
	"EMAILADDRESS": {1, 2, 840, 113549, 1, 9, 1},
}

// parseDN reads a distinguished name written as strongSwan does
// ("C=CH, O=strongSwan, CN=moon.example") into an ID_DER_ASN1_DN
// identity, one attribute per RDN in the order written. A backslash
// escapes a comma.
func parseDN(s string) (ike.Identity, error) {
	var rdns pkix.RDNSequence
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case s[i] == ',':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(s[i])
		}
	}
	parts = append(parts, cur.String())
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		oid, known := dnAttributes[strings.ToUpper(k)]
		if !ok || !known || v == "" {
			return ike.Identity{}, fmt.Errorf("DN %q: %q is not ATTRIBUTE=value with one of C, ST, L, O, OU, CN, SN, DC, E", s, p)
		}
		rdns = append(rdns, []pkix.AttributeTypeAndValue{{Type: oid, Value: v}})
	}
	if len(rdns) == 0 {
		return ike.Identity{}, fmt.Errorf("DN %q is empty", s)
	}
	der, err := asn1.Marshal(rdns)
	if err != nil {
		return ike.Identity{}, fmt.Errorf("DN %q: %w", s, err)
	}
	return ike.Identity{Type: ike.IDDerASN1DN, Data: der}, nil
}
