package conn_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/dispatch"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// seenCerts is a CertVerifier that accepts any chain and keeps the end
// entities it was shown.
type seenCerts struct {
	mu    sync.Mutex
	leafs []*x509.Certificate
}

func (s *seenCerts) VerifyCert(_ context.Context, chain [][]byte, _ ike.Identity) (crypto.PublicKey, error) {
	c, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.leafs = append(s.leafs, c)
	s.mu.Unlock()
	return c.PublicKey, nil
}

func (s *seenCerts) subjects() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, c := range s.leafs {
		out = append(out, c.Subject.CommonName)
	}
	return out
}

func certCredential(c *certstest.Cert) *ike.CertCredential {
	return &ike.CertCredential{Chain: c.DER(), Signer: c.Key, Send: ike.SendCertAlways}
}

// TestConnCertPerConn: a conn with auth cert initiates with the
// certificate Config.Cert gives for it, not the engine's first one.
func TestConnCertPerConn(t *testing.T) {
	ca := certstest.NewRoot(t, "conn CA")
	one := ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "one.example"}})
	two := ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "two.example"}})
	peer := ca.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}})
	credOne, credTwo := certCredential(one), certCredential(two)
	var asked []string
	var askedMu sync.Mutex
	pa, pb := &pipe{}, &pipe{}
	seenA, seenB := &seenCerts{}, &seenCerts{}
	mk := func(cfg dispatch.Config, p *pipe, creds ike.Credentials, v ike.CertVerifier) (*dispatch.Dispatcher, *fake.Dataplane) {
		dp := fake.New(time.Now)
		d, err := dispatch.New(cfg, dp, oetest.NewDNS(), ike.EngineConfig{Credentials: creds, CertVerifier: v, Sender: p, GiveUp: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d, dp
	}
	a, _ := mk(dispatch.Config{Conns: conn.Config{Cert: func(name string) *ike.CertCredential {
		askedMu.Lock()
		asked = append(asked, name)
		askedMu.Unlock()
		return credTwo
	}}}, pa, ike.Credentials{Certs: []*ike.CertCredential{credOne, credTwo}}, seenA)
	b, _ := mk(dispatch.Config{}, pb, ike.Credentials{Cert: certCredential(peer)}, seenB)
	pa.to.Store(b)
	pb.to.Store(a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office", Local: gwA, Remote: gwB, LocalSubnets: []netip.Prefix{netA},
		RemoteSubnets: []netip.Prefix{netB}, Auth: ike.AuthKindCert, RemoteID: ike.CertDNIdentity(peer.Cert), KeyingTries: 1}); err != nil {
		t.Fatal(err)
	}
	if err := b.Conns().Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "office-b", Local: gwB, Remote: gwA, LocalSubnets: []netip.Prefix{netB},
		RemoteSubnets: []netip.Prefix{netA}, Auth: ike.AuthKindCert, RemoteID: ike.CertDNIdentity(two.Cert)}); err != nil {
		t.Fatal(err)
	}
	if err := a.Conns().Up(ctx, "office"); err != nil {
		t.Fatal(err)
	}
	if got := seenB.subjects(); len(got) != 1 || got[0] != "two.example" {
		t.Errorf("B was shown %v, want conn office's certificate two.example", got)
	}
	if got := seenA.subjects(); len(got) != 1 || got[0] != "b.example" {
		t.Errorf("A was shown %v, want b.example", got)
	}
	askedMu.Lock()
	defer askedMu.Unlock()
	if len(asked) != 1 || asked[0] != "office" {
		t.Errorf("Config.Cert asked for %v, want [office]", asked)
	}
}
