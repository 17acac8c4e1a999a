package tunnel

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
)

var (
	addrA = netip.MustParseAddr("198.18.0.1")
	addrB = netip.MustParseAddr("198.18.0.2")
	addrD = netip.MustParseAddr("198.18.0.4")
)

func host(a netip.Addr) []ike.TrafficSelector { return []ike.TrafficSelector{ike.HostSelector(a)} }

func childSA(spi uint32, id ike.SAID, peerID ike.Identity, local, remote netip.Addr) ike.ChildSA {
	return ike.ChildSA{SPIIn: spi, SPIOut: spi + 1, Local: addrB, Remote: addrA, IKESPIi: id.SPIi, IKESPIr: id.SPIr,
		PeerID: peerID, TSLocal: host(local), TSRemote: host(remote)}
}

func pairID(sa ike.ChildSA) kernel.SAPairID {
	return kernel.SAPairID{Peer: sa.Remote, InSPI: sa.SPIIn, OutSPI: sa.SPIOut}
}

// TestSameFlowBothEnds: a flow is both its ends and the peer's identity;
// a tunnel to the same peer that differs in any of them is another flow.
func TestSameFlowBothEnds(t *testing.T) {
	b2 := netip.MustParseAddr("198.18.0.12")
	ikeX, ikeY := ike.SAID{SPIi: ike.SPI{1}, SPIr: ike.SPI{2}}, ike.SAID{SPIi: ike.SPI{3}, SPIr: ike.SPI{4}}
	old := childSA(0x100, ikeX, ike.AddrIdentity(addrA), addrB, addrA)
	var tt Table
	tt.Add(time.Now(), old, pairID(old), "")
	for _, tc := range []struct {
		name string
		sa   ike.ChildSA
		same bool
	}{
		{"the peer reconnected", childSA(0x200, ikeY, ike.AddrIdentity(addrA), addrB, addrA), true},
		{"another local address of ours", childSA(0x200, ikeY, ike.AddrIdentity(addrA), b2, addrA), false},
		{"another client behind the peer", childSA(0x200, ikeY, ike.AddrIdentity(addrA), addrB, addrD), false},
		{"another identity", childSA(0x200, ikeY, ike.NullIdentity(), addrB, addrA), false},
		{"a second CHILD SA of the same IKE SA", childSA(0x200, ikeX, ike.AddrIdentity(addrA), addrB, addrA), false},
	} {
		got := tt.SameFlow(tc.sa, "")
		if (len(got) == 1 && got[0].InSPI() == old.SPIIn) != tc.same || len(got) > 1 {
			t.Errorf("%s: SameFlow finds %d tunnels, want the old one: %v", tc.name, len(got), tc.same)
		}
	}
}

// TestSameFlowOwner: OE's replacement never sees a conn's tunnel, nor one
// conn another's, even for the very same flow.
func TestSameFlowOwner(t *testing.T) {
	ikeX, ikeY := ike.SAID{SPIi: ike.SPI{1}, SPIr: ike.SPI{2}}, ike.SAID{SPIi: ike.SPI{3}, SPIr: ike.SPI{4}}
	old := childSA(0x100, ikeX, ike.AddrIdentity(addrA), addrB, addrA)
	var tt Table
	tt.Add(time.Now(), old, pairID(old), "office")
	again := childSA(0x200, ikeY, ike.AddrIdentity(addrA), addrB, addrA)
	if got := tt.SameFlow(again, ""); len(got) != 0 {
		t.Errorf("OE's SameFlow finds conn office's tunnel: %+v", got)
	}
	if got := tt.SameFlow(again, "lab"); len(got) != 0 {
		t.Errorf("conn lab's SameFlow finds conn office's tunnel: %+v", got)
	}
	if got := tt.SameFlow(again, "office"); len(got) != 1 || got[0].Conn != "office" {
		t.Errorf("conn office's SameFlow: %+v, want its own tunnel", got)
	}
}

func TestTableRekeyAndPeers(t *testing.T) {
	var tt Table
	ikeX := ike.SAID{SPIi: ike.SPI{1}, SPIr: ike.SPI{2}}
	old := childSA(0x100, ikeX, ike.AddrIdentity(addrA), addrB, addrA)
	tt.Add(time.Now(), old, pairID(old), "")
	next := childSA(0x200, ikeX, ike.AddrIdentity(addrA), addrB, addrA)
	next.Replaces = old.SPIIn
	tt.Add(time.Now().Add(time.Second), next, pairID(next), "")
	if tn, ok := tt.Get(0x100); !ok || !tn.Replaced {
		t.Errorf("the rekeyed tunnel: %+v %v, want it marked replaced", tn, ok)
	}
	if ts := tt.ToPeer(addrA); len(ts) != 1 || ts[0].InSPI() != 0x200 {
		t.Errorf("ToPeer: %+v, want only the successor", ts)
	}
	if all := tt.All(); len(all) != 2 || all[0].InSPI() != 0x100 {
		t.Errorf("All: %+v, want both, oldest first", all)
	}
	if _, ok := tt.Remove(0x100); !ok {
		t.Error("Remove found nothing")
	}
	if _, ok := tt.Get(0x100); ok {
		t.Error("removed tunnel still there")
	}
}

// TestTableSeq: Seq is the order the tunnels came up in, even when the
// clock gives them all the same time; a rekey keeps its predecessor's.
func TestTableSeq(t *testing.T) {
	var tt Table
	now := time.Unix(1e9, 0) // a fake clock that stands still
	ikeX, ikeY := ike.SAID{SPIi: ike.SPI{1}, SPIr: ike.SPI{2}}, ike.SAID{SPIi: ike.SPI{3}, SPIr: ike.SPI{4}}
	first := childSA(0x100, ikeX, ike.AddrIdentity(addrA), addrB, addrA)
	second := childSA(0x200, ikeY, ike.AddrIdentity(addrA), addrB, addrD)
	rekey := childSA(0x300, ikeX, ike.AddrIdentity(addrA), addrB, addrA)
	rekey.Replaces = first.SPIIn
	lost := childSA(0x400, ikeX, ike.AddrIdentity(addrA), addrB, addrA)
	lost.Replaces = 0x999 // its predecessor is gone from the table
	for _, sa := range []ike.ChildSA{first, second, rekey, lost} {
		tt.Add(now, sa, pairID(sa), "")
	}
	seq := func(spi uint32) uint32 {
		tn, ok := tt.Get(spi)
		if !ok {
			t.Fatalf("no tunnel %x", spi)
		}
		return tn.Seq
	}
	if a, b := seq(0x100), seq(0x200); a == 0 || a >= b {
		t.Errorf("Seq of the first tunnel %d, of the second %d: want 0 < first < second", a, b)
	}
	if got, want := seq(0x300), seq(0x100); got != want {
		t.Errorf("the rekey's Seq is %d, want its predecessor's %d", got, want)
	}
	if got := seq(0x400); got <= seq(0x200) {
		t.Errorf("a rekey whose predecessor is gone has Seq %d, want a new one after %d", got, seq(0x200))
	}
}

// TestBeforeWraps: the order holds across Seq's wrap-around, and a tunnel
// is not before itself.
func TestBeforeWraps(t *testing.T) {
	for _, tc := range []struct {
		a, b uint32
		want bool
	}{
		{1, 2, true},
		{2, 1, false},
		{7, 7, false},
		{^uint32(0), 0, true}, // the last number before the wrap, the first after
		{^uint32(0) - 5, 3, true},
		{3, ^uint32(0) - 5, false},
	} {
		if got := (Tunnel{Seq: tc.a}).Before(Tunnel{Seq: tc.b}); got != tc.want {
			t.Errorf("Seq %d before %d: %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// TestTunnelSize: a Tunnel is kept per peer; its fields are laid out to
// fit the 176-octet allocation size class (issue 14's memory figures).
func TestTunnelSize(t *testing.T) {
	if n := unsafe.Sizeof(Tunnel{}); n > 176 {
		t.Errorf("Tunnel is %d octets, over the 176 of its size class: keep the small fields together at its end", n)
	}
}

// TestSameFlowIndex: SameFlow finds a peer's tunnels through the index
// as Add, Remove and an Add over an SPI already there leave it, among
// many tunnels to other peers.
func TestSameFlowIndex(t *testing.T) {
	var tt Table
	id := func(n byte) ike.SAID { return ike.SAID{SPIi: ike.SPI{n}, SPIr: ike.SPI{n + 1}} }
	peer := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}) }
	sa := func(spi uint32, ikeID ike.SAID, p netip.Addr) ike.ChildSA {
		s := childSA(spi, ikeID, ike.AddrIdentity(p), addrB, p)
		s.Remote = p
		return s
	}
	for i := range 1000 {
		s := sa(uint32(0x10000+i), id(1), peer(i))
		tt.Add(time.Now(), s, pairID(s), "")
	}
	p := peer(7)
	again := sa(0x900, id(9), p)
	if got := tt.SameFlow(again, ""); len(got) != 1 || got[0].InSPI() != 0x10007 {
		t.Fatalf("SameFlow among 1000 peers = %+v, want the tunnel 0x10007", got)
	}
	// A second tunnel of the flow, then the first goes: the index keeps
	// the second only.
	second := sa(0x901, id(11), p)
	tt.Add(time.Now(), second, pairID(second), "")
	if got := tt.SameFlow(again, ""); len(got) != 2 {
		t.Fatalf("SameFlow with two tunnels = %d, want 2", len(got))
	}
	tt.Remove(0x10007)
	if got := tt.SameFlow(again, ""); len(got) != 1 || got[0].InSPI() != 0x901 {
		t.Fatalf("SameFlow after Remove = %+v, want 0x901", got)
	}
	// An Add over an SPI already there, to another peer: the old peer no
	// longer lists it.
	moved := sa(0x901, id(13), peer(8))
	tt.Add(time.Now(), moved, pairID(moved), "")
	if got := tt.SameFlow(again, ""); len(got) != 0 {
		t.Fatalf("SameFlow after the SPI moved to another peer = %+v, want none", got)
	}
	if got := tt.SameFlow(sa(0x902, id(15), peer(8)), ""); len(got) != 2 {
		t.Fatalf("SameFlow of the other peer = %d, want 2 (its own and the moved SPI)", len(got))
	}
	tt.Remove(0x901)
	tt.Remove(0x10008)
	if n := len(tt.byPeer[peer(8)]); n != 0 {
		t.Errorf("index keeps %d SPIs of a peer with no tunnels", n)
	}
	if _, ok := tt.byPeer[peer(8)]; ok {
		t.Error("index keeps an empty entry for a peer with no tunnels")
	}
}

// BenchmarkSameFlow: the look-up a responder makes on every CHILD SA it
// installs, with N other peers' tunnels in the table. With the per-peer
// index it does not grow with N.
func BenchmarkSameFlow(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			var tt Table
			for i := range n {
				p := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
				s := childSA(uint32(0x10000+i), ike.SAID{SPIi: ike.SPI{1}}, ike.AddrIdentity(p), addrB, p)
				s.Remote = p
				tt.Add(time.Now(), s, pairID(s), "")
			}
			p := netip.AddrFrom4([4]byte{198, 19, 0, 7})
			s := childSA(0x900, ike.SAID{SPIi: ike.SPI{9}}, ike.AddrIdentity(p), addrB, p)
			s.Remote = p
			b.ReportAllocs()
			for b.Loop() {
				if len(tt.SameFlow(s, "")) != 1 {
					b.Fatal("SameFlow missed the peer's tunnel")
				}
			}
		})
	}
}
