package ike

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
)

// reencodeDN writes a DER DN again with every string value as an
// upper-case UTF8String padded with spaces: the same name for RFC 5280
// §7.1, other octets.
func reencodeDN(t *testing.T, der []byte) []byte {
	t.Helper()
	var seq pkix.RDNSequence
	if _, err := asn1.Unmarshal(der, &seq); err != nil {
		t.Fatal(err)
	}
	for _, rdn := range seq {
		for i, atv := range rdn {
			s, ok := atv.Value.(string)
			if !ok {
				t.Fatalf("DN value %v is not a string", atv.Value)
			}
			rdn[i].Value = asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte("  " + strings.ToUpper(s) + " ")}
		}
	}
	out, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSameIdentityDN: DNs compare by meaning, not by octets: another
// string type, case or surrounding spaces are the same name; another
// value, or a DN against a non-DN, is not.
func TestSameIdentityDN(t *testing.T) {
	ca := newTestCA(t, "test", false)
	c := mustParse(t, ca.issue("b.example", signers(t)["p256"], "b.example").Chain[0])
	subject := CertDNIdentity(c)
	other := CertDNIdentity(ca.root)
	reenc := Identity{Type: IDDerASN1DN, Data: reencodeDN(t, c.RawSubject)}
	if string(reenc.Data) == string(subject.Data) {
		t.Fatal("the re-encoded DN has the same octets: the test proves nothing")
	}
	for _, tc := range []struct {
		name string
		x, y Identity
		want bool
	}{
		{"same octets", subject, subject, true},
		{"UTF8String, upper case, spaces", subject, reenc, true},
		{"the other way round", reenc, subject, true},
		{"another DN", subject, other, false},
		{"malformed", subject, Identity{Type: IDDerASN1DN, Data: []byte{0x30, 0x05, 0x01}}, false},
		{"same bytes as an FQDN", subject, Identity{Type: IDFQDN, Data: subject.Data}, false},
		{"FQDN case and final dot", FQDNIdentity("Alice.example."), FQDNIdentity("alice.example"), true},
		{"two addresses", AddrIdentity(addrA), AddrIdentity(addrB), false},
	} {
		if got := SameIdentity(tc.x, tc.y); got != tc.want {
			t.Errorf("%s: SameIdentity(%v, %v) = %v, want %v", tc.name, tc.x, tc.y, got, tc.want)
		}
	}
}

// TestCertPeerIDReencodedDN: an initiator told to expect the responder's
// DN in another encoding (as a DN typed into a configuration is) accepts
// the certificate's subject, and the responder takes the IDr it is sent
// as its own; a different DN is still refused.
func TestCertPeerIDReencodedDN(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", false)
	credA := ca.issue("a.example", s["p256"], "a.example")
	credB := ca.issue("b.example", s["p256"], "b.example")
	n, a, b := certPair(t, ca, credA, credB, nil)
	want := Identity{Type: IDDerASN1DN, Data: reencodeDN(t, mustParse(t, credB.Chain[0]).RawSubject)}
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, PeerID: want})
	if err != nil {
		t.Fatalf("PeerID the subject DN re-encoded: %v", err)
	}
	checkChildPair(t, a, b, info)

	n, a, b = certPair(t, ca, credA, credB, nil)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert, PeerID: CertDNIdentity(ca.root)}); !errors.Is(err, ErrAuthentication) {
		t.Errorf("PeerID another DN: %v, want an authentication failure", err)
	}
}
