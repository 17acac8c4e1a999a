package userspace

import (
	"runtime"
	"testing"
)

func TestShrunk(t *testing.T) {
	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	// 20,000 entries, then all but 100 deleted, shrunk after each delete
	// as the device does: the map holds what 100 need, not the buckets
	// of 20,000 (over 300 KiB); every survivor is kept.
	const n, keep = 20000, 100
	before := heap()
	m, peak := map[uint64]*int{}, 0
	for i := range uint64(n) {
		m[i] = new(int)
		peak = max(peak, len(m))
	}
	remakes := 0
	for i := range uint64(n - keep) {
		delete(m, i)
		old := peak
		m, peak = shrunk(m, peak)
		if peak != old {
			remakes++
		}
	}
	if kept := heap() - before; kept > 64<<10 {
		t.Errorf("%d KiB held by %d entries left of %d: the map was not re-made", kept>>10, keep, n)
	}
	if len(m) != keep {
		t.Fatalf("%d entries left, want %d", len(m), keep)
	}
	for i := uint64(n - keep); i < n; i++ {
		if m[i] == nil {
			t.Fatalf("entry %d lost", i)
		}
	}
	// Amortised: 20,000 → 2,500 → 312, then below the minimum.
	if remakes != 2 {
		t.Errorf("re-made %d times, want 2", remakes)
	}
	// Small maps are left alone.
	small := map[int]int{1: 1}
	if got, p := shrunk(small, 1000); p != 1000 || len(got) != 1 {
		t.Errorf("a map of peak 1000 was re-made (peak %d)", p)
	}
}
