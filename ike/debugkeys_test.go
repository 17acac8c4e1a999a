package ike

import (
	"bytes"
	"testing"
)

// TestDebugKeys: both ends report the same SK_e and SK_a keys for their
// IKE SA, each under the side (initiator, responder) that uses it.
func TestDebugKeys(t *testing.T) {
	n, a, b := newPair(t, nil, nil, nil)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
	ka, kb := a.e.DebugKeys(), b.e.DebugKeys()
	if len(ka) != 1 || len(kb) != 1 {
		t.Fatalf("%d and %d SAs with keys, want 1 each", len(ka), len(kb))
	}
	x, y := ka[0], kb[0]
	if x.ID != y.ID || !x.Initiator || y.Initiator {
		t.Fatalf("IDs %v %v, initiators %v %v", x.ID, y.ID, x.Initiator, y.Initiator)
	}
	if len(x.SKei) != x.Suite.Encr.KeyLen() || len(x.SKai) != x.Suite.Integ.KeyLen() {
		t.Errorf("SK_ei of %d octets, SK_ai of %d, for %v", len(x.SKei), len(x.SKai), x.Suite)
	}
	for _, p := range []struct {
		name string
		a, b []byte
	}{{"SK_ei", x.SKei, y.SKei}, {"SK_er", x.SKer, y.SKer}, {"SK_ai", x.SKai, y.SKai}, {"SK_ar", x.SKar, y.SKar}} {
		if !bytes.Equal(p.a, p.b) {
			t.Errorf("%s differs between the ends", p.name)
		}
	}
	if bytes.Equal(x.SKei, x.SKer) {
		t.Error("SK_ei equals SK_er")
	}
	// Copies: changing them changes nothing in the engine.
	x.SKei[0] ^= 0xff
	if again := a.e.DebugKeys()[0]; !bytes.Equal(again.SKei, y.SKei) {
		t.Error("DebugKeys hands out the engine's own key slices")
	}
}
