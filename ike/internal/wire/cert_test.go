package wire

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"testing"
)

func TestCertPayloads(t *testing.T) {
	h1, h2 := bytes.Repeat([]byte{1}, CAKeyHashLen), bytes.Repeat([]byte{2}, CAKeyHashLen)
	cases := []struct {
		name    string
		p       *Cert
		hashes  [][]byte
		hashErr bool
	}{
		{"x509 cert", X509Cert([]byte{0x30, 0x03, 1, 2, 3}), nil, true},
		{"certreq two CAs", X509CertReq([][]byte{h1, h2}), [][]byte{h1, h2}, false},
		{"certreq empty", X509CertReq(nil), [][]byte{}, false},
		{"certreq short hash", &Cert{Request: true, Encoding: CertX509Signature, Data: make([]byte, 21)}, nil, true},
		{"certreq other encoding", &Cert{Request: true, Encoding: CertPGP, Data: []byte{9}}, nil, true},
		{"cert other encoding kept", &Cert{Encoding: CertHashURLX509, Data: []byte("http://ca.example/x")}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := (&Message{Header: Header{Exchange: IKEAuth, MessageID: 1}, Payloads: []Payload{c.p}}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			m, err := ParseMessage(b)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := m.Payloads[0].(*Cert)
			if !ok || got.Request != c.p.Request || got.Encoding != c.p.Encoding || !bytes.Equal(got.Data, c.p.Data) {
				t.Fatalf("round trip: got %+v, want %+v", m.Payloads[0], c.p)
			}
			hs, err := got.CAKeyHashes()
			if (err != nil) != c.hashErr {
				t.Fatalf("CAKeyHashes error %v, want error %v", err, c.hashErr)
			}
			if err == nil && (len(hs) != len(c.hashes) || (len(hs) > 0 && !bytes.Equal(bytes.Join(hs, nil), bytes.Join(c.hashes, nil)))) {
				t.Errorf("hashes %x, want %x", hs, c.hashes)
			}
		})
	}
}

func TestCertPayloadMalformed(t *testing.T) {
	// An X.509 CERT without a certificate is a syntax error; an empty
	// CERT of another encoding is kept.
	for _, c := range []struct {
		body []byte
		ok   bool
	}{
		{[]byte{byte(CertX509Signature)}, false},
		{[]byte{}, false},
		{[]byte{byte(CertPGP)}, true},
	} {
		_, err := parseCert(PayloadCERT, c.body)
		if (err == nil) != c.ok {
			t.Errorf("parseCert(%x) = %v, want ok %v", c.body, err, c.ok)
		}
		var se *SyntaxError
		if err != nil && !errors.As(err, &se) {
			t.Errorf("parseCert(%x) error %v is not a syntax error", c.body, err)
		}
	}
}

// FuzzCertPayloads parses CERT and CERTREQ bodies and, when they parse,
// checks that they re-encode to the same octets and that the CA hash
// list splits into whole hashes.
func FuzzCertPayloads(f *testing.F) {
	f.Add(true, []byte{4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add(false, []byte{4, 0x30, 0x00})
	f.Add(false, []byte{12, 'h', 't', 't', 'p'})
	f.Fuzz(func(t *testing.T, req bool, body []byte) {
		typ := PayloadCERT
		if req {
			typ = PayloadCERTREQ
		}
		p, err := parseCert(typ, body)
		if err != nil {
			return
		}
		c := p.(*Cert)
		checkReencode(t, Header{Exchange: IKEAuth}, []Payload{c})
		if hs, err := c.CAKeyHashes(); err == nil {
			if len(hs)*CAKeyHashLen != len(c.Data) {
				t.Fatalf("%d hashes from %d octets", len(hs), len(c.Data))
			}
		}
	})
}

func TestDNIdentityString(t *testing.T) {
	der, _ := asn1.Marshal(pkix.Name{Country: []string{"XX"}, CommonName: "gw"}.ToRDNSequence())
	if got, want := (Identity{Type: IDDerASN1DN, Data: der}).String(), `ID_DER_ASN1_DN:"CN=gw,C=XX"`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	if got := (Identity{Type: IDDerASN1DN, Data: []byte{1, 2}}).String(); got != "ID_DER_ASN1_DN:0102" {
		t.Errorf("String() of a malformed DN = %s", got)
	}
}
