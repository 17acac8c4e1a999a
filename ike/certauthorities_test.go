package ike

import (
	"reflect"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// TestSetCertAuthorities: the CERTREQ of exchanges after the call names
// the new CAs; a hash of the wrong size is refused and the old list stays.
func TestSetCertAuthorities(t *testing.T) {
	old, renewed := newTestCA(t, "old", false), newTestCA(t, "renewed", false)
	n := newMemNet(t)
	e, err := NewEngine(EngineConfig{CertVerifier: newTestCertVerifier(old), CertAuthorities: [][]byte{CAKeyHash(old.root)},
		Sender: &memSender{n: n, self: addrA}, Installer: newFakeInstaller(1)})
	if err != nil {
		t.Fatal(err)
	}
	sa := &ikeSA{e: e}
	if got, want := sa.certRequest(), wire.X509CertReq([][]byte{CAKeyHash(old.root)}); !reflect.DeepEqual(got, want) {
		t.Fatalf("CERTREQ at start %+v, want %+v", got, want)
	}
	if err := e.SetCertAuthorities([][]byte{{1, 2}}); err == nil {
		t.Error("a 2-octet CA key hash was taken")
	}
	if got, want := sa.certRequest(), wire.X509CertReq([][]byte{CAKeyHash(old.root)}); !reflect.DeepEqual(got, want) {
		t.Fatalf("CERTREQ after a refused list %+v, want the old one %+v", got, want)
	}
	hashes := [][]byte{CAKeyHash(renewed.root), CAKeyHash(old.root)}
	if err := e.SetCertAuthorities(hashes); err != nil {
		t.Fatal(err)
	}
	hashes[0] = make([]byte, len(hashes[0])) // the engine keeps its own copy
	if got, want := sa.certRequest(), wire.X509CertReq([][]byte{CAKeyHash(renewed.root), CAKeyHash(old.root)}); !reflect.DeepEqual(got, want) {
		t.Fatalf("CERTREQ after SetCertAuthorities %+v, want %+v", got, want)
	}
}
