package ike

import (
	"fmt"
	"net/netip"
	"testing"
)

// BenchmarkInitialContact: the INITIAL_CONTACT a responder handles on
// nearly every first handshake, with N established IKE SAs of other peers
// in the engine. The SAs of other peers are ruled out under the table
// lock by the identity they proved, without taking each SA's lock.
func BenchmarkInitialContact(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("sas=%d", n), func(b *testing.B) {
			nw := newMemNet(b)
			e, err := NewEngine(EngineConfig{Sender: &memSender{n: nw, self: addrA}, Installer: newFakeInstaller(1)})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			e.mu.Lock()
			for i := range n {
				a := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
				sa := &ikeSA{e: e, state: stEstablished, peerID: AddrIdentity(a)}
				sa.peer = peerRef{addr: a, id: AddrIdentity(a), up: e.nextSeqLocked()}
				e.sas[SPI{byte(i >> 8), byte(i), 1}] = sa
				e.indexPeerLocked(sa)
			}
			begun := e.nextSeqLocked()
			e.mu.Unlock()
			peer := AddrIdentity(netip.MustParseAddr("198.20.0.1"))
			keep := &ikeSA{e: e}
			b.ReportAllocs()
			for b.Loop() {
				e.initialContact(peer, AddrIdentity(addrA), keep, begun)
			}
		})
	}
}

// TestPeerKeyBuckets: identities SameIdentity calls the same share a
// bucket of the INITIAL_CONTACT index, so that no SA is missed.
func TestPeerKeyBuckets(t *testing.T) {
	fq := func(s string) Identity { return Identity{Type: IDFQDN, Data: []byte(s)} }
	for _, c := range [][2]Identity{
		{fq("B.Example."), fq("b.example")},
		{fq("k.example"), fq("\u212a.example")}, // KELVIN SIGN folds to k
		{fq("stra\u00dfe.example"), fq("STRA\u00dfE.example")},
		{fq("\xff.example"), fq("\xfe.example")}, // invalid UTF-8: both U+FFFD
		{AddrIdentity(addrA), AddrIdentity(addrA)},
		{{Type: IDDerASN1DN, Data: []byte{1}}, {Type: IDDerASN1DN, Data: []byte{2}}},
	} {
		if SameIdentity(c[0], c[1]) || c[0].Type == IDDerASN1DN {
			if peerKeyOf(c[0]) != peerKeyOf(c[1]) {
				t.Errorf("%q and %q: same identity, buckets %v and %v", c[0].Data, c[1].Data, peerKeyOf(c[0]), peerKeyOf(c[1]))
			}
		} else {
			t.Errorf("%q and %q: want the same identity for this test", c[0].Data, c[1].Data)
		}
	}
	if peerKeyOf(fq("a.example")) == peerKeyOf(fq("b.example")) || peerKeyOf(AddrIdentity(addrA)) == peerKeyOf(AddrIdentity(addrB)) {
		t.Error("different identities share a bucket")
	}
}
