package userspace

import "testing"

// The reader's spare batches go back to the pool: none is left in free,
// and each gave up every buffer it held.
func TestTrimFreeReturnsSpareBatches(t *testing.T) {
	p := newPools()
	d := &Device{pools: p}
	free := make(chan *outBatch, 4)
	var spare []*outBatch
	for range 3 {
		b := d.newOutBatch(2)
		spare = append(spare, b)
		free <- b
	}
	if n := trimFree(free, p); n != 3 {
		t.Fatalf("trimFree returned %d batches, want 3", n)
	}
	if len(free) != 0 {
		t.Fatalf("%d batches still spare after the trim", len(free))
	}
	for k, b := range spare {
		for i := range b.elems {
			if b.elems[i].buf != nil {
				t.Errorf("batch %d still holds buffer %d after the trim", k, i)
			}
		}
	}
	if n := trimFree(free, p); n != 0 {
		t.Fatalf("a second trim returned %d batches, want 0", n)
	}
}
