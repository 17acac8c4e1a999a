package userspace

import "testing"

func TestReplayWindow(t *testing.T) {
	w := newReplayWindow(1024)
	if w.size < 1024 {
		t.Fatalf("window %d < 1024", w.size)
	}
	steps := []struct {
		seq  uint64
		want bool
	}{
		{0, false}, {1, true}, {1, false}, {3, true}, {2, true}, {2, false},
		{5000, true}, {5000 - w.size + 1, true}, {5000 - w.size, false}, {4000, true}, {4000, false},
		{1 << 40, true}, {1<<40 - 1, true}, {5000, false},
	}
	for i, s := range steps {
		if got := w.update(s.seq); got != s.want {
			t.Fatalf("step %d seq %d: got %v, want %v", i, s.seq, got, s.want)
		}
	}
}

// TestReplayWindowSlide moves the window by every distance up to a few
// ring lengths and checks that every number inside it is still known and
// every number below it refused.
func TestReplayWindowSlide(t *testing.T) {
	w := newReplayWindow(1024)
	seq := uint64(0)
	for jump := uint64(1); jump < 3*w.size; jump += 37 {
		seq += jump
		if !w.update(seq) {
			t.Fatalf("fresh %d refused", seq)
		}
		if w.check(seq) {
			t.Fatalf("%d accepted twice", seq)
		}
		if seq > w.size && w.check(seq-w.size) {
			t.Fatalf("%d below the window accepted", seq-w.size)
		}
		if seq > 10 && !w.check(seq-1) && jump > 1 {
			t.Fatalf("unseen %d in the window refused", seq-1)
		}
	}
}

func TestInferSeqESN(t *testing.T) {
	w := newReplayWindow(1024)
	// Fresh window: low numbers are epoch 0, numbers just below 2^32 are
	// from before the start and refused.
	if s, ok := w.inferSeq(5, true); !ok || s != 5 {
		t.Fatalf("fresh 5: %d %v", s, ok)
	}
	if _, ok := w.inferSeq(^uint32(0), true); ok {
		t.Fatal("fresh 2^32-1 accepted")
	}
	// Top near the end of epoch 0: a small low half is epoch 1.
	w.update(uint64(^uint32(0)) - 10)
	if s, _ := w.inferSeq(3, true); s != 1<<32|3 {
		t.Fatalf("after wrap: %#x", s)
	}
	if s, _ := w.inferSeq(^uint32(0)-20, true); s != uint64(^uint32(0))-20 {
		t.Fatalf("late before wrap: %#x", s)
	}
	// Top just after the wrap (case B): a late packet from just before it
	// is epoch 0, a small one epoch 1.
	w.update(1<<32 | 5)
	if s, _ := w.inferSeq(^uint32(0)-3, true); s != uint64(^uint32(0))-3 {
		t.Fatalf("case B late: %#x", s)
	}
	if s, _ := w.inferSeq(7, true); s != 1<<32|7 {
		t.Fatalf("case B new: %#x", s)
	}
	// Without ESN the low half is the number.
	if s, _ := w.inferSeq(7, false); s != 7 {
		t.Fatalf("no ESN: %d", s)
	}
}
