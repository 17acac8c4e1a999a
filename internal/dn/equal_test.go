package dn

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
)

// rdn builds a one-attribute RDN whose value is encoded with the given
// ASN.1 string tag.
func rdn(oid asn1.ObjectIdentifier, tag int, v string) pkix.RelativeDistinguishedNameSET {
	return pkix.RelativeDistinguishedNameSET{{Type: oid, Value: asn1.RawValue{Tag: tag, Bytes: []byte(v)}}}
}

func TestCompare(t *testing.T) {
	cn, o, c := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.ObjectIdentifier{2, 5, 4, 6}
	der := func(seq pkix.RDNSequence) []byte {
		b, err := asn1.Marshal(seq)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	base := der(pkix.RDNSequence{rdn(c, asn1.TagPrintableString, "CH"), rdn(o, asn1.TagPrintableString, "Example Org"), rdn(cn, asn1.TagPrintableString, "gw")})
	tests := []struct {
		name  string
		other []byte
		want  bool
	}{
		{"identical", base, true},
		{"UTF8String for PrintableString", der(pkix.RDNSequence{rdn(c, asn1.TagPrintableString, "CH"), rdn(o, asn1.TagUTF8String, "Example Org"), rdn(cn, asn1.TagUTF8String, "gw")}), true},
		{"case and white space", der(pkix.RDNSequence{rdn(c, asn1.TagPrintableString, "ch"), rdn(o, asn1.TagUTF8String, "  example   ORG "), rdn(cn, asn1.TagIA5String, "GW")}), true},
		{"other value", der(pkix.RDNSequence{rdn(c, asn1.TagPrintableString, "CH"), rdn(o, asn1.TagPrintableString, "Example Org"), rdn(cn, asn1.TagPrintableString, "gw2")}), false},
		{"reordered", der(pkix.RDNSequence{rdn(o, asn1.TagPrintableString, "Example Org"), rdn(c, asn1.TagPrintableString, "CH"), rdn(cn, asn1.TagPrintableString, "gw")}), false},
		{"missing an RDN", der(pkix.RDNSequence{rdn(c, asn1.TagPrintableString, "CH"), rdn(cn, asn1.TagPrintableString, "gw")}), false},
		{"inner white space is not removed", der(pkix.RDNSequence{rdn(c, asn1.TagPrintableString, "CH"), rdn(o, asn1.TagPrintableString, "ExampleOrg"), rdn(cn, asn1.TagPrintableString, "gw")}), false},
	}
	for _, tt := range tests {
		got, err := Compare(base, tt.other)
		if err != nil || got != tt.want {
			t.Errorf("%s: Compare = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	// A multi-valued RDN matches in any order within the set.
	a := der(pkix.RDNSequence{{{Type: cn, Value: "gw"}, {Type: o, Value: "Org"}}})
	b := der(pkix.RDNSequence{{{Type: o, Value: "org"}, {Type: cn, Value: "GW"}}})
	if same, err := Compare(a, b); !same || err != nil {
		t.Errorf("multi-valued RDN in another order: %v, %v", same, err)
	}
	if _, err := Compare(base, []byte{0x30, 0x05, 0x01}); err == nil {
		t.Error("a truncated DN parsed")
	}
	if _, err := Compare(base, append(append([]byte{}, base...), 0)); err == nil {
		t.Error("a DN with trailing data parsed")
	}
}

// TestEqual: the boolean form answers false, not an error, for DER that
// does not parse, unless the octets are the same.
func TestEqual(t *testing.T) {
	a, err := asn1.Marshal(pkix.RDNSequence{rdn(asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.TagPrintableString, "gw")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := asn1.Marshal(pkix.RDNSequence{rdn(asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.TagUTF8String, "GW")})
	if err != nil {
		t.Fatal(err)
	}
	if !Equal(a, b) {
		t.Error("PrintableString gw and UTF8String GW differ")
	}
	if Equal(a, []byte{1}) || Equal([]byte{1}, a) {
		t.Error("malformed DER equals a DN")
	}
	if !Equal([]byte{1}, []byte{1}) {
		t.Error("the same octets differ")
	}
}
