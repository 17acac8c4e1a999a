package tunnel

import (
	"runtime"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// heapNow is the live heap after a collection.
func heapNow() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func TestTableShrinksAfterBurst(t *testing.T) {
	// 20,000 tunnels, then all but 100 removed: what the table holds
	// after is about what 100 tunnels need, not the buckets of 20,000
	// (16 bytes a slot and more: over 300 KiB).
	const n, keep = 20000, 100
	id := ike.SAID{SPIi: ike.SPI{1}, SPIr: ike.SPI{2}}
	var tt Table
	before := heapNow()
	for i := range uint32(n) {
		sa := childSA(0x1000+2*i, id, ike.AddrIdentity(addrA), addrB, addrA)
		tt.Add(time.Now(), sa, pairID(sa), "")
	}
	peak := heapNow()
	for i := range uint32(n - keep) {
		if _, ok := tt.Remove(0x1000 + 2*i); !ok {
			t.Fatalf("tunnel %#x missing", 0x1000+2*i)
		}
	}
	after := heapNow()
	if got := len(tt.All()); got != keep {
		t.Fatalf("%d tunnels left, want %d", got, keep)
	}
	t.Logf("heap: %d B before, %d B with %d tunnels, %d B with %d left", before, peak, n, after, keep)
	if kept := after - before; kept > 100<<10 {
		t.Errorf("the table holds %d KiB with %d tunnels left of %d: its map never shrank", kept>>10, keep, n)
	}
	for i := uint32(n - keep); i < n; i++ {
		if _, ok := tt.Get(0x1000 + 2*i); !ok {
			t.Errorf("tunnel %#x lost in the re-made table", 0x1000+2*i)
		}
	}
}
