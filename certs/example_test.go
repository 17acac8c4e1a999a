package certs_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/certs/certstest"
)

// ikeIdentity stands for the engine's own identity type (ike.Identity):
// the same RFC 7296 numbering, so converting is a type conversion.
type ikeIdentity struct {
	Type uint8
	Data []byte
}

// adapter is the few lines oemeshd needs to hand a Verifier to the IKE
// engine.
type adapter struct{ v *certs.Verifier }

func (a adapter) VerifyCert(chain [][]byte, peer ikeIdentity) (crypto.PublicKey, error) {
	res, err := a.v.Verify(context.Background(), chain, certs.ID{Type: certs.IDType(peer.Type), Data: peer.Data})
	if err != nil {
		return nil, err
	}
	return res.PublicKey, nil
}

func TestAdapter(t *testing.T) {
	root := certstest.NewRoot(t, "root")
	ee := root.NewIntermediate(t, "inter").Issue(t, certstest.Options{DNSNames: []string{"gw.example"}})
	v, err := certs.New(certs.Config{Roots: []*x509.Certificate{root.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	a := adapter{v}
	if _, err := a.VerifyCert(ee.DER(), ikeIdentity{Type: 2, Data: []byte("gw.example")}); err != nil {
		t.Fatal(err)
	}
	_, err = a.VerifyCert(ee.DER(), ikeIdentity{Type: 2, Data: []byte("www.example")})
	var ve *certs.VerifyError
	if !errors.As(err, &ve) || ve.Reason != certs.IDMismatch {
		t.Fatalf("another name: %v", err)
	}
	if got := fmt.Sprint(ve.Reason); got != "id_mismatch" {
		t.Fatalf("metric label %q, want id_mismatch", got)
	}
}
