package certs

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
)

// parseDN parses a DER Name (an RDNSequence), as in ID_DER_ASN1_DN.
func parseDN(der []byte) (pkix.Name, error) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil {
		return pkix.Name{}, err
	}
	if len(rest) != 0 {
		return pkix.Name{}, errors.New("trailing data after the DN")
	}
	var n pkix.Name
	n.FillFromRDNSequence(&seq)
	return n, nil
}
