package tunnel

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// toPeerScan is ToPeer as it was before the index: every tunnel looked at.
func toPeerScan(t *Table, addr netip.Addr) []uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []uint32
	for spi, tn := range t.byIn {
		if !tn.Replaced && (tn.Peer() == addr || CoversHost(tn.Remote, addr)) {
			out = append(out, spi)
		}
	}
	slices.Sort(out)
	return out
}

func spisOf(ts []Tunnel) []uint32 {
	out := make([]uint32, 0, len(ts))
	for _, tn := range ts {
		out = append(out, tn.InSPI())
	}
	slices.Sort(out)
	return out
}

// TestToPeerIndex: through the index, ToPeer finds exactly the tunnels a
// scan of the whole table finds, for every address, in a table that
// holds host-to-host tunnels, gateways (a client's address as the remote
// selector), subnets and ranges, rekeyed tunnels, SPIs added twice and
// tunnels removed.
func TestToPeerIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 19, 0, byte(i)}) }
	var tt Table
	var spis []uint32
	for step := range 2000 {
		spi := uint32(0x1000 + rng.IntN(300))
		switch r := rng.IntN(10); {
		case r < 2 && len(spis) > 0: // remove one
			tt.Remove(spis[rng.IntN(len(spis))])
		default:
			peer := addr(rng.IntN(40))
			sa := childSA(spi, ike.SAID{SPIi: ike.SPI{byte(step)}}, ike.AddrIdentity(peer), addrB, peer)
			sa.Remote = peer
			switch rng.IntN(5) {
			case 0: // a gateway: the remote selector is a client behind it
				sa.TSRemote = host(addr(100 + rng.IntN(40)))
			case 1: // a range
				lo := rng.IntN(200)
				sa.TSRemote = []ike.TrafficSelector{{Start: addr(lo), End: addr(lo + rng.IntN(20))}}
			case 2: // two hosts, one of them the peer
				sa.TSRemote = append(host(peer), ike.HostSelector(addr(100+rng.IntN(40))))
			}
			if rng.IntN(4) == 0 && len(spis) > 0 {
				sa.Replaces = spis[rng.IntN(len(spis))]
			}
			tt.Add(time.Now(), sa, pairID(sa), "")
			spis = append(spis, spi)
		}
		if step%100 == 99 {
			for i := range 256 {
				a := addr(i)
				if got, want := spisOf(tt.ToPeer(a)), toPeerScan(&tt, a); !slices.Equal(got, want) {
					t.Fatalf("step %d: ToPeer(%v) = %x, a scan finds %x", step, a, got, want)
				}
			}
		}
	}
}

// benchToPeer times ToPeer of one peer's address with n host-to-host
// tunnels to other peers in the table.
func benchToPeer(b *testing.B, n int) {
	var tt Table
	for i := range n {
		p := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		s := childSA(uint32(0x10000+i), ike.SAID{SPIi: ike.SPI{1}}, ike.AddrIdentity(p), addrB, p)
		s.Remote = p
		tt.Add(time.Now(), s, pairID(s), "")
	}
	p := netip.AddrFrom4([4]byte{198, 19, 0, 7})
	b.ReportAllocs()
	for b.Loop() {
		if len(tt.ToPeer(p)) != 1 {
			b.Fatal("ToPeer missed the peer's tunnel")
		}
	}
}

// BenchmarkToPeer: the look-up of an OE initiation (and of a NULL traffic
// check) with N peers' tunnels in the table; with the index it does not
// grow with N.
func BenchmarkToPeer(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) { benchToPeer(b, n) })
	}
}

// TestToPeerFlat: ToPeer at 10,000 tunnels costs about what it costs at
// 100. A scan of the table costs about 100 times more; the bound leaves
// room for a loaded machine.
func TestToPeerFlat(t *testing.T) {
	assertFlat(t, "ToPeer", benchToPeer)
}

// assertFlat runs bench at 100 and 10,000 and fails if the second costs
// more than 8 times the first.
func assertFlat(t *testing.T, name string, bench func(*testing.B, int)) {
	t.Helper()
	small := testing.Benchmark(func(b *testing.B) { bench(b, 100) })
	large := testing.Benchmark(func(b *testing.B) { bench(b, 10000) })
	ratio := float64(large.NsPerOp()) / float64(max(small.NsPerOp(), 1))
	t.Logf("%s: %d ns at 100, %d ns at 10,000 (%.1f×)", name, small.NsPerOp(), large.NsPerOp(), ratio)
	if ratio > 8 {
		t.Errorf("%s costs %.1f× more at 10,000 than at 100 (%v against %v): it scans", name, ratio, large.NsPerOp(), small.NsPerOp())
	}
}
