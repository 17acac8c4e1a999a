package userspace

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

// TestInSPIsCounted: inSPIs counts the pairs by inbound SPI as pairs
// changes, so that AllocSPI refuses exactly the SPIs of installed pairs
// without scanning them.
func TestInSPIsCounted(t *testing.T) {
	d := bareDevice()
	a := kernel.SAPairID{Peer: addrA, InSPI: 0x1000, OutSPI: 0x2000}
	b := kernel.SAPairID{Peer: addrB, InSPI: 0x1000, OutSPI: 0x3000} // the same inbound SPI, another peer
	d.putPair(a, &pair{id: a})
	d.putPair(a, &pair{id: a}) // again: a replacement, not a second pair
	if n := d.inSPIs[0x1000]; n != 1 {
		t.Fatalf("after installing one pair twice, inSPIs = %d, want 1", n)
	}
	d.putPair(b, &pair{id: b})
	d.dropPair(a)
	if n := d.inSPIs[0x1000]; n != 1 {
		t.Fatalf("after removing one of two pairs with the SPI, inSPIs = %d, want 1", n)
	}
	d.dropPair(a) // not there: no change
	if n := d.inSPIs[0x1000]; n != 1 {
		t.Fatalf("removing a pair twice changed the count to %d", n)
	}
	d.dropPair(b)
	if _, ok := d.inSPIs[0x1000]; ok || len(d.pairs) != 0 {
		t.Fatalf("after removing both pairs: inSPIs %v, pairs %d", d.inSPIs, len(d.pairs))
	}
}

// BenchmarkAllocSPI: the SPI a responder allocates for every CHILD SA,
// with N pairs installed. It used to scan every pair to check the SPI was
// free.
func BenchmarkAllocSPI(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("pairs=%d", n), func(b *testing.B) {
			d := bareDevice()
			for i := range n {
				id := kernel.SAPairID{Peer: netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), InSPI: uint32(0x10000 + i), OutSPI: uint32(i)}
				d.putPair(id, &pair{id: id})
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				spi, err := d.AllocSPI(ctx, addrA, addrB)
				if err != nil {
					b.Fatal(err)
				}
				delete(d.spis, spi)
			}
		})
	}
}
