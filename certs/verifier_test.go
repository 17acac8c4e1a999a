package certs

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/internal/clock/clocktest"
)

// pki is a root, an intermediate, and the clock the tests verify at.
type pki struct {
	root, inter *certstest.CA
	clock       *clocktest.Fake
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	root := certstest.NewRoot(t, "oemesh test root")
	return &pki{root: root, inter: root.NewIntermediate(t, "oemesh test intermediate"), clock: clocktest.NewAt(time.Now())}
}

func (p *pki) verifier(t *testing.T, mod func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{Roots: []*x509.Certificate{p.root.Cert}, Clock: p.clock}
	if mod != nil {
		mod(&cfg)
	}
	v, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func fqdn(s string) ID { return ID{Type: IDFQDN, Data: []byte(s)} }

func dnID(t *testing.T, n pkix.Name) ID {
	t.Helper()
	der, err := asn1.Marshal(n.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	return ID{Type: IDDerASN1DN, Data: der}
}

// wantReason fails unless err is a *VerifyError with reason r about the
// certificate with serial.
func wantReason(t *testing.T, err error, r Reason, serial *big.Int) {
	t.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T), want a *VerifyError with reason %s", err, err, r)
	}
	if ve.Reason != r {
		t.Fatalf("reason %s, want %s (error: %v)", ve.Reason, r, err)
	}
	if serial != nil && (ve.Cert == nil || ve.Cert.SerialNumber.Cmp(serial) != 0) {
		t.Fatalf("error about %v, want the certificate with serial %s (error: %v)", ve.Cert, serial, err)
	}
}

func TestVerifyChains(t *testing.T) {
	p := newPKI(t)
	ctx := context.Background()
	for _, k := range []certstest.KeyType{certstest.ECDSAP256, certstest.RSA2048, certstest.Ed25519} {
		t.Run(k.String(), func(t *testing.T) {
			ee := p.inter.Issue(t, certstest.Options{Key: k, Subject: pkix.Name{CommonName: "gw.example"}, DNSNames: []string{"gw.example"}})

			// The intermediate from the peer's CERT payloads.
			res, err := p.verifier(t, nil).Verify(ctx, ee.DER(), fqdn("gw.example"))
			if err != nil {
				t.Fatalf("intermediate from the peer: %v", err)
			}
			if len(res.Chain) != 3 || !res.Chain[1].Equal(p.inter.Cert) || !res.Chain[2].Equal(p.root.Cert) {
				t.Fatalf("chain %v, want the EE, the intermediate and the root", subjects(res.Chain))
			}
			if !res.Cert.Equal(ee.Cert) || res.Subject != "CN=gw.example" || res.Issuer != p.inter.Cert.Subject.String() ||
				!res.NotAfter.Equal(ee.Cert.NotAfter) || len(res.DNSNames) != 1 {
				t.Fatalf("result %+v does not describe the EE", res)
			}
			if pk, ok := res.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pk.Equal(ee.Key.Public()) {
				t.Fatalf("public key %T is not the EE's", res.PublicKey)
			}

			// The intermediate from configuration, the peer sending the EE alone.
			v := p.verifier(t, func(c *Config) { c.Intermediates = []*x509.Certificate{p.inter.Cert} })
			if _, err := v.Verify(ctx, ee.DER()[:1], fqdn("gw.example")); err != nil {
				t.Fatalf("intermediate from configuration: %v", err)
			}

			// Neither: no path to the root.
			_, err = p.verifier(t, nil).Verify(ctx, ee.DER()[:1], fqdn("gw.example"))
			wantReason(t, err, UnknownCA, ee.Cert.SerialNumber)
		})
	}
}

func subjects(cs []*x509.Certificate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Subject.String())
	}
	return out
}

func TestVerifyRefusals(t *testing.T) {
	p := newPKI(t)
	now := p.clock.Now()
	other := certstest.NewRoot(t, "some other root")
	ctx := context.Background()
	gw := pkix.Name{CommonName: "gw.example", Organization: []string{"Example"}}

	tests := []struct {
		name   string
		issuer *certstest.CA
		opts   certstest.Options
		id     func(t *testing.T) ID
		mod    func(*Config)
		want   Reason // 0: accepted
	}{
		{name: "expired", opts: certstest.Options{NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-time.Hour)}, want: Expired},
		{name: "not yet valid", opts: certstest.Options{NotBefore: now.Add(time.Hour), NotAfter: now.Add(48 * time.Hour)}, want: NotYetValid},
		{name: "unknown CA", issuer: other, want: UnknownCA},
		{name: "wrong EKU", opts: certstest.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, want: WrongEKU},
		{name: "wrong EKU accepted with AnyEKU", opts: certstest.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}, mod: func(c *Config) { c.AnyEKU = true }},
		{name: "EKU emailProtection", opts: certstest.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}, want: WrongEKU},
		{name: "EKU ipsecIKE", opts: certstest.Options{UnknownEKU: []asn1.ObjectIdentifier{certstest.OIDIPsecIKE}}},
		{name: "EKU serverAuth", opts: certstest.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}},
		{name: "EKU clientAuth and codeSigning", opts: certstest.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning, x509.ExtKeyUsageClientAuth}}},
		{name: "EKU any", opts: certstest.Options{EKU: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}},
		{name: "key usage keyEncipherment only", opts: certstest.Options{KeyUsage: x509.KeyUsageKeyEncipherment}, want: WrongKeyUsage},
		{name: "key usage keyEncipherment only even with AnyEKU", opts: certstest.Options{KeyUsage: x509.KeyUsageKeyEncipherment}, mod: func(c *Config) { c.AnyEKU = true }, want: WrongKeyUsage},
		{name: "key usage nonRepudiation", opts: certstest.Options{KeyUsage: x509.KeyUsageContentCommitment}},
		{name: "no key usage", opts: certstest.Options{OmitKeyUsage: true}},
		{name: "wrong SAN", id: func(*testing.T) ID { return fqdn("www.example") }, want: IDMismatch},
		{name: "FQDN in CN only", opts: certstest.Options{DNSNames: []string{"other.example"}}, want: IDMismatch},
		{name: "DN", id: func(t *testing.T) ID { return dnID(t, gw) }},
		{name: "DN mismatch", id: func(t *testing.T) ID {
			return dnID(t, pkix.Name{CommonName: "gw2.example", Organization: []string{"Example"}})
		}, want: IDMismatch},
		{name: "DN RDNs reordered", id: func(t *testing.T) ID {
			// Organization then CN in the cert; CN then Organization here.
			der, _ := asn1.Marshal(pkix.RDNSequence{
				{{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "gw.example"}},
				{{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Example"}},
			})
			return ID{Type: IDDerASN1DN, Data: der}
		}, want: IDMismatch},
		{name: "IPv4 SAN", opts: certstest.Options{IPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, id: func(*testing.T) ID { return ID{Type: IDIPv4Addr, Data: []byte{192, 0, 2, 1}} }},
		{name: "IPv4 not in SAN", opts: certstest.Options{IPs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}}, id: func(*testing.T) ID { return ID{Type: IDIPv4Addr, Data: []byte{192, 0, 2, 2}} }, want: IDMismatch},
		{name: "ID_KEY_ID", id: func(*testing.T) ID { return ID{Type: 11, Data: []byte("x")} }, want: IDMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issuer := tt.issuer
			if issuer == nil {
				issuer = p.inter
			}
			o := tt.opts
			o.Subject = gw
			if o.DNSNames == nil {
				o.DNSNames = []string{"gw.example"}
			}
			ee := issuer.Issue(t, o)
			id := fqdn("gw.example")
			if tt.id != nil {
				id = tt.id(t)
			}
			_, err := p.verifier(t, tt.mod).Verify(ctx, ee.DER(), id)
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantReason(t, err, tt.want, ee.Cert.SerialNumber)
			// The message names the certificate and its serial.
			if msg := err.Error(); !strings.Contains(msg, "gw.example") || !strings.Contains(msg, "serial "+strings.ToUpper(ee.Cert.SerialNumber.Text(16))) {
				t.Fatalf("message %q does not name the certificate and its serial", msg)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	p := newPKI(t)
	v := p.verifier(t, nil)
	ctx := context.Background()
	_, err := v.Verify(ctx, nil, fqdn("x"))
	wantReason(t, err, NoCertificate, nil)
	_, err = v.Verify(ctx, [][]byte{{0x30, 0x03, 0x02, 0x01, 0x01}}, fqdn("x"))
	wantReason(t, err, Malformed, nil)
	ee := p.inter.Issue(t, certstest.Options{DNSNames: []string{"x"}})
	_, err = v.Verify(ctx, [][]byte{ee.Cert.Raw, []byte("junk")}, fqdn("x"))
	wantReason(t, err, Malformed, nil)
	long := make([][]byte, MaxChain+1)
	for i := range long {
		long[i] = ee.Cert.Raw
	}
	_, err = v.Verify(ctx, long, fqdn("x"))
	wantReason(t, err, BadChain, nil)
}

func TestVerifyExpiredIntermediate(t *testing.T) {
	p := newPKI(t)
	ee := p.inter.Issue(t, certstest.Options{DNSNames: []string{"gw.example"}, NotAfter: p.inter.Cert.NotAfter.Add(time.Hour)})
	// Between the intermediate's expiry and the EE's.
	p.clock.Advance(p.inter.Cert.NotAfter.Sub(p.clock.Now()) + time.Minute)
	_, err := p.verifier(t, nil).Verify(context.Background(), ee.DER(), fqdn("gw.example"))
	wantReason(t, err, Expired, p.inter.Cert.SerialNumber)
}

func TestNewNeedsAnchors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New without trust anchors succeeded")
	}
	if _, err := New(Config{Roots: []*x509.Certificate{newPKI(t).root.Cert}, OCSP: OCSPHard + 1}); err == nil {
		t.Fatal("New with an unknown OCSP mode succeeded")
	}
}

func TestReasonStrings(t *testing.T) {
	// Metric labels: changing one breaks dashboards.
	want := map[Reason]string{
		Malformed: "malformed", NoCertificate: "no_certificate", Expired: "expired", NotYetValid: "not_yet_valid",
		UnknownCA: "unknown_ca", BadChain: "bad_chain", NameConstraints: "name_constraints",
		WrongKeyUsage: "wrong_key_usage", WrongEKU: "wrong_eku", Revoked: "revoked",
		RevocationUnknown: "revocation_unknown", IDMismatch: "id_mismatch",
	}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("Reason %d is %q, want %q", int(r), r.String(), s)
		}
	}
}
