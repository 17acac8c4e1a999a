package ike

import (
	"bytes"
	"testing"
)

// TestSetCertCredential renews our certificate while the engine runs: the
// next IKE_AUTH sends the new one, and a credential whose key is not its
// certificate's, or an engine without a certificate, is refused.
func TestSetCertCredential(t *testing.T) {
	s := signers(t)
	ca := newTestCA(t, "test", false)
	credA := ca.issue("a.example", s["p256"], "a.example")
	credB := ca.issue("b.example", s["p256"], "b.example")
	n, a, b := certPair(t, ca, credA, credB, nil)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert}); err != nil {
		t.Fatal(err)
	}
	renewed := ca.issue("a.example", s["rsa"], "a.example")
	if bytes.Equal(renewed.Chain[0], credA.Chain[0]) {
		t.Fatal("the renewed certificate is the old one")
	}
	if err := a.e.SetCertCredential(&CertCredential{Chain: renewed.Chain, Signer: s["p256"]}); err == nil {
		t.Error("SetCertCredential accepted a key that is not the certificate's")
	}
	if err := a.e.SetCertCredential(renewed); err != nil {
		t.Fatal(err)
	}
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindCert}); err != nil {
		t.Fatal(err)
	}
	bs := b.established()
	if len(bs) != 2 {
		t.Fatalf("B has %d IKE SAs, want 2", len(bs))
	}
	var sawOld, sawNew bool
	for _, sa := range bs {
		switch {
		case sa.PeerCert == nil:
			t.Errorf("no peer certificate recorded: %+v", sa)
		case bytes.Equal(sa.PeerCert.Raw, credA.Chain[0]):
			sawOld = true
		case bytes.Equal(sa.PeerCert.Raw, renewed.Chain[0]):
			sawNew = true
		}
	}
	if !sawOld || !sawNew {
		t.Errorf("B saw the old certificate %v and the renewed one %v; want both, one per IKE SA", sawOld, sawNew)
	}

	_, c, _ := newPair(t, nil, nil, nil)
	if err := c.e.SetCertCredential(renewed); err == nil {
		t.Error("an engine built without a certificate took one")
	}
}
