package userspace

import "sync"

// replayWindow is the RFC 4303 §3.4.3 anti-replay window kept as a ring of
// 64-bit words (RFC 6479): checking a sequence number costs one word lookup,
// and moving the window clears at most len(ring) words, so the cost per
// packet is bounded whatever the jump. The usable window is
// (len(ring)-1)*64 packets; one word is spare so that advancing never
// clears bits that are still inside the window.
//
// Sequence numbers here are full 64-bit (ESN, RFC 4303 Appendix A); for SAs
// without ESN the high half is always zero.
//
// The ring is allocated by the first packet recorded: an SA that carries
// no traffic does not pay for it.
type replayWindow struct {
	mu   sync.Mutex
	top  uint64   // highest sequence number accepted so far (0: none)
	ring []uint64 // bitmap; bit (seq % 64) of word (seq/64 % len(ring)); nil until the first packet
	size uint64   // window size in packets, (words-1)*64
}

const (
	minReplayWindow     = 1024
	maxReplayWindow     = 1 << 20
	defaultReplayWindow = 1024
)

func newReplayWindow(size uint32) *replayWindow {
	w := new(replayWindow)
	w.init(size)
	return w
}

// init sets the window's size: size packets (0 means the default),
// clamped to [minReplayWindow, maxReplayWindow] and rounded up to whole
// words.
func (w *replayWindow) init(size uint32) {
	if size == 0 {
		size = defaultReplayWindow
	}
	s := uint64(size)
	if s < minReplayWindow {
		s = minReplayWindow
	}
	if s > maxReplayWindow {
		s = maxReplayWindow
	}
	w.size = (s + 63) / 64 * 64
}

// inferSeq turns the low 32 bits received on the wire into a full sequence
// number. Without ESN it is the low half. With ESN it follows RFC 4303
// Appendix A2.2: the high half is the window's, or one more when the low
// half wrapped past the window's top, or one less for a late packet from
// before a wrap. ok is false for a number below zero (a late packet from
// before the first wrap on a fresh window), which can only be a replay.
func (w *replayWindow) inferSeq(lo uint32, esn bool) (seq uint64, ok bool) {
	if !esn {
		return uint64(lo), true
	}
	w.mu.Lock()
	top := w.top
	w.mu.Unlock()
	tl, th := uint32(top), uint32(top>>32)
	bottom := tl - uint32(w.size) + 1 // may wrap: that is case B
	if tl >= uint32(w.size)-1 {
		// Case A: the window does not straddle a 2^32 boundary.
		if lo >= bottom {
			return uint64(th)<<32 | uint64(lo), true
		}
		return uint64(th+1)<<32 | uint64(lo), th != ^uint32(0)
	}
	// Case B: the window straddles the boundary below tl.
	if lo >= bottom {
		if th == 0 {
			return 0, false
		}
		return uint64(th-1)<<32 | uint64(lo), true
	}
	return uint64(th)<<32 | uint64(lo), true
}

// check reports whether seq may be new: not zero, not older than the
// window, and not already seen. It does not record seq; call update after
// the packet authenticated.
func (w *replayWindow) check(seq uint64) bool {
	w.mu.Lock()
	ok := w.checkLocked(seq)
	w.mu.Unlock()
	return ok
}

func (w *replayWindow) checkLocked(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq > w.top {
		return true
	}
	if w.top-seq >= w.size {
		return false
	}
	// top > 0: a packet was recorded, so the ring exists.
	n := uint64(len(w.ring))
	return w.ring[(seq/64)%n]&(1<<(seq%64)) == 0
}

// update checks seq again (another worker may have taken it since check)
// and records it. It returns false for a replay.
func (w *replayWindow) update(seq uint64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.checkLocked(seq) {
		return false
	}
	if w.ring == nil {
		w.ring = make([]uint64, w.size/64+1)
	}
	n := uint64(len(w.ring))
	if seq > w.top {
		// Clear the words the window slides over, at most the whole ring.
		from, to := w.top/64, seq/64
		if to-from >= n {
			clear(w.ring)
		} else {
			for i := from + 1; i <= to; i++ {
				w.ring[i%n] = 0
			}
		}
		w.top = seq
	}
	w.ring[(seq/64)%n] |= 1 << (seq % 64)
	return true
}
