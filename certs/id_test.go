package certs

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net"
	"testing"
)

func TestMatchDNSName(t *testing.T) {
	tests := []struct {
		san, host string
		want      bool
	}{
		{"gw.example", "gw.example", true},
		{"GW.Example", "gw.EXAMPLE", true},
		{"gw.example.", "gw.example", true},
		{"gw.example", "gw.example.", true},
		{"gw.example", "gw2.example", false},
		{"*.example", "www.example", true},
		{"*.example", "WWW.Example.", true},
		{"*.example", "example", false},
		{"*.example", "a.b.example", false},
		{"*.example", ".example", false},
		{"w*.example", "www.example", false},
		{"*", "example", false},
		{"*.*.example", "a.b.example", false},
		{"", "", false},
	}
	for _, tt := range tests {
		if got := matchDNSName(tt.san, tt.host); got != tt.want {
			t.Errorf("matchDNSName(%q, %q) = %v, want %v", tt.san, tt.host, got, tt.want)
		}
	}
}

func TestMatchID(t *testing.T) {
	cert := &x509.Certificate{
		DNSNames:       []string{"gw.example", "*.svc.example"},
		IPAddresses:    []net.IP{net.ParseIP("192.0.2.1"), net.ParseIP("2001:db8::1")},
		EmailAddresses: []string{"Admin@Example.org"},
	}
	tests := []struct {
		id   ID
		want bool
	}{
		{ID{IDFQDN, []byte("gw.example")}, true},
		{ID{IDFQDN, []byte("api.svc.example")}, true},
		{ID{IDFQDN, []byte("svc.example")}, false},
		{ID{IDIPv4Addr, []byte{192, 0, 2, 1}}, true},
		{ID{IDIPv4Addr, []byte{192, 0, 2, 9}}, false},
		{ID{IDIPv6Addr, net.ParseIP("2001:db8::1")}, true},
		// An IPv4 address dressed as ID_IPV6_ADDR, or the wrong length.
		{ID{IDIPv6Addr, []byte{192, 0, 2, 1}}, false},
		{ID{IDIPv4Addr, net.ParseIP("192.0.2.1")}, false},
		{ID{IDRFC822Addr, []byte("Admin@example.ORG")}, true},
		{ID{IDRFC822Addr, []byte("admin@example.org")}, false},
		{ID{IDFQDN, nil}, false},
		{ID{11, []byte("key id")}, false},
	}
	for _, tt := range tests {
		err := MatchID(cert, tt.id)
		if (err == nil) != tt.want {
			t.Errorf("MatchID(%s) = %v, want match %v", tt.id, err, tt.want)
		}
		if err != nil && err.(*VerifyError).Reason != IDMismatch {
			t.Errorf("MatchID(%s): reason %s, want id_mismatch", tt.id, err.(*VerifyError).Reason)
		}
	}
}

// rdn builds a one-attribute RDN whose value is encoded with the given
// ASN.1 string tag.
func rdn(oid asn1.ObjectIdentifier, tag int, v string) pkix.RelativeDistinguishedNameSET {
	return pkix.RelativeDistinguishedNameSET{{Type: oid, Value: asn1.RawValue{Tag: tag, Bytes: []byte(v)}}}
}

func TestSameDN(t *testing.T) {
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
		got, err := sameDN(base, tt.other)
		if err != nil || got != tt.want {
			t.Errorf("%s: sameDN = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	// A multi-valued RDN matches in any order within the set.
	a := der(pkix.RDNSequence{{{Type: cn, Value: "gw"}, {Type: o, Value: "Org"}}})
	b := der(pkix.RDNSequence{{{Type: o, Value: "org"}, {Type: cn, Value: "GW"}}})
	if same, err := sameDN(a, b); !same || err != nil {
		t.Errorf("multi-valued RDN in another order: %v, %v", same, err)
	}
	if _, err := sameDN(base, []byte{0x30, 0x05, 0x01}); err == nil {
		t.Error("a truncated DN parsed")
	}
	if _, err := sameDN(base, append(append([]byte{}, base...), 0)); err == nil {
		t.Error("a DN with trailing data parsed")
	}
}
