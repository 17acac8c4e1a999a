package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
)

// FuzzVerify feeds arbitrary DER to the chain path as a peer's two CERT
// payloads would: it must never panic, and must refuse with a
// *VerifyError.
func FuzzVerify(f *testing.F) {
	p := newPKI(f)
	ee := p.inter.Issue(f, certstest.Options{DNSNames: []string{"gw.example"}})
	f.Add(ee.Cert.Raw, p.inter.Cert.Raw, []byte("gw.example"))
	f.Add(ee.Cert.Raw[:len(ee.Cert.Raw)/2], []byte{}, []byte{})
	f.Add(p.root.Cert.Raw, p.root.Cert.Raw, []byte{0x30, 0x00})
	v, err := New(Config{Roots: []*x509.Certificate{p.root.Cert}, Clock: p.clock})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b, id []byte) {
		for _, typ := range []IDType{IDFQDN, IDDerASN1DN, IDIPv4Addr} {
			res, err := v.Verify(context.Background(), [][]byte{a, b}, ID{Type: typ, Data: id})
			if err == nil {
				if res == nil || res.Cert == nil || len(res.Chain) < 2 {
					t.Fatalf("accepted without a result chain: %+v", res)
				}
				continue
			}
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Reason == 0 {
				t.Fatalf("refusal %v is not a *VerifyError with a reason", err)
			}
			_ = err.Error()
		}
	})
}

func FuzzParseCertificates(f *testing.F) {
	p := newPKI(f)
	f.Add(certstest.CertPEM(p.inter.Cert, p.root.Cert))
	f.Add(p.root.Cert.Raw)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := ParseCertificates(data)
		if err == nil && len(cs) == 0 {
			t.Fatal("no error and no certificates")
		}
	})
}

func FuzzParseCRL(f *testing.F) {
	p := newPKI(f)
	now := time.Now()
	crl := p.inter.CRL(f, now, now.Add(time.Hour))
	f.Add(crl.Raw)
	f.Add(certstest.CRLPEM(crl))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseCRL(data)
		if err == nil && c == nil {
			t.Fatal("no error and no CRL")
		}
	})
}
