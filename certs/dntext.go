package certs

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
)

// dnAttributes are the attribute names a DN written as text may use, as
// strongSwan and Libreswan write them.
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

// ParseDNText reads a distinguished name written as strongSwan writes it
// ("C=CH, O=strongSwan, CN=moon.example") into the DER of an
// ID_DER_ASN1_DN identity: one attribute per RDN, in the order written. A
// backslash escapes the next character (a comma in a value).
func ParseDNText(s string) ([]byte, error) {
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
			return nil, fmt.Errorf("DN %q: %q is not ATTRIBUTE=value with one of C, ST, L, O, OU, CN, SN, DC, E", s, p)
		}
		rdns = append(rdns, []pkix.AttributeTypeAndValue{{Type: oid, Value: v}})
	}
	if len(rdns) == 0 {
		return nil, fmt.Errorf("DN %q is empty", s)
	}
	der, err := asn1.Marshal(rdns)
	if err != nil {
		return nil, fmt.Errorf("DN %q: %w", s, err)
	}
	return der, nil
}
