package ike

import "sync"

// childIndex finds the IKE SA that holds a CHILD SA by the CHILD SA's
// inbound SPI, for findChild: a CHILD SA's lifetime timer, a local rekey
// and a local delete each name the CHILD SA by SPI alone (it may have
// moved to a new IKE SA since). Looking through every IKE SA, each under
// its own lock, cost O(N) per call with N peers, and every CHILD SA's
// lifetime ends once per lifetime: O(N²) a round of rekeys.
//
// It mirrors sa.children: an entry is added where a CHILD SA joins an IKE
// SA's list (addChild), re-pointed where the list moves to a successor
// (moveChildren) and removed where a CHILD SA leaves it (dropChild, die).
// Its lock is a leaf, taken with the SA's lock held.
type childIndex struct {
	mu   sync.Mutex
	m    map[uint32]*ikeSA
	peak int // the most entries m held since it was made (forget)
}

// set records that sa holds the CHILD SA with inbound SPI spi.
func (x *childIndex) set(spi uint32, sa *ikeSA) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m == nil {
		x.m = map[uint32]*ikeSA{}
	}
	x.m[spi] = sa
	x.peak = max(x.peak, len(x.m))
}

// forget removes spi if sa holds it (not a successor it moved to).
func (x *childIndex) forget(spi uint32, sa *ikeSA) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.m[spi] != sa {
		return
	}
	delete(x.m, spi)
	// As the SA table (shrinkSAsLocked): a map keeps the buckets of its
	// peak.
	if x.peak >= mapShrinkMin && len(x.m) <= x.peak/mapShrinkFactor {
		m := make(map[uint32]*ikeSA, len(x.m))
		for k, v := range x.m {
			m[k] = v
		}
		x.m, x.peak = m, len(m)
	}
}

// get returns the SA recorded for spi, or nil.
func (x *childIndex) get(spi uint32) *ikeSA {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.m[spi]
}

// addChild appends c to sa's CHILD SAs and indexes it. sa.mu is held.
func (sa *ikeSA) addChild(c *childSA) {
	sa.children = append(sa.children, c)
	sa.e.childIdx.set(c.SPIIn, sa)
}

// findChild returns the SA holding the CHILD SA with inbound SPI spi.
func (e *Engine) findChild(spi uint32) *ikeSA {
	sa := e.childIdx.get(spi)
	if sa == nil {
		return nil
	}
	sa.lock()
	c := sa.childByIn(spi)
	sa.unlock()
	if c == nil {
		return nil
	}
	return sa
}
