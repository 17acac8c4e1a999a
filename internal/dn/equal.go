package dn

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
)

// Equal reports whether two DER distinguished names name the same entity
// (see Compare). Malformed DER is never equal to anything but the same
// octets.
func Equal(a, b []byte) bool {
	same, err := Compare(a, b)
	return err == nil && same
}

// Compare compares two DER distinguished names: byte for byte first, then
// canonically, because a CA and a peer's configuration often encode the
// same name differently (PrintableString against UTF8String, "Example"
// against "EXAMPLE"). The canonical comparison is RFC 5280 §7.1's, short of
// full RFC 4518 string preparation: the RDNs in the same order, each RDN
// the same set of attribute types, and each value equal after removing
// leading and trailing white space, collapsing inner runs of white space,
// and folding case; the ASN.1 string type is ignored. strongSwan also
// compares RDN by RDN in order, but folds case only between two
// PrintableStrings; docs/certificates.md compares the three. The error
// says which DN does not parse.
func Compare(a, b []byte) (bool, error) {
	if bytes.Equal(a, b) {
		return true, nil
	}
	ra, err := rdns(a)
	if err != nil {
		return false, fmt.Errorf("first DN: %w", err)
	}
	rb, err := rdns(b)
	if err != nil {
		return false, fmt.Errorf("second DN: %w", err)
	}
	if len(ra) != len(rb) {
		return false, nil
	}
	for i := range ra {
		if !sameRDN(ra[i], rb[i]) {
			return false, nil
		}
	}
	return true, nil
}

func rdns(der []byte) (pkix.RDNSequence, error) {
	var seq pkix.RDNSequence
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data after the DN")
	}
	return seq, nil
}

// sameRDN compares two sets of attributes regardless of their order.
func sameRDN(a, b pkix.RelativeDistinguishedNameSET) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
outer:
	for _, x := range a {
		for j, y := range b {
			if !used[j] && x.Type.Equal(y.Type) && sameValue(x.Value, y.Value) {
				used[j] = true
				continue outer
			}
		}
		return false
	}
	return true
}

func sameValue(a, b any) bool {
	sa, ok1 := a.(string)
	sb, ok2 := b.(string)
	if !ok1 || !ok2 {
		// Values that are not strings (rare: an encoded SEQUENCE) compare
		// only by their decoded form.
		return fmt.Sprint(a) == fmt.Sprint(b)
	}
	return strings.EqualFold(canonical(sa), canonical(sb))
}

// canonical trims a value and collapses its inner white space.
func canonical(s string) string { return strings.Join(strings.Fields(s), " ") }
