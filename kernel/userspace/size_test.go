package userspace

import (
	"testing"
	"unsafe"
)

// TestPairSize holds the per-SA struct to its size class: a pair is
// allocated for every installed CHILD SA, so at 10,000 peers each size
// class above 512 octets (the next is 576) costs 640 KB of heap.
func TestPairSize(t *testing.T) {
	if n := unsafe.Sizeof(pair{}); n > 512 {
		t.Errorf("pair is %d octets, want ≤ 512 (one size class; keep the small fields together)", n)
	}
}
