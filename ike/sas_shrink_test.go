package ike

import (
	"testing"
	"time"
)

func TestSATableShrinksAfterBurst(t *testing.T) {
	// 1,100 SAs, then 1,000 of them deleted: both engines' SA tables are
	// re-made at their new size (a Go map would keep 1,100 SAs' buckets),
	// and the 100 left still work.
	const n, keep = 1100, 100
	net, a, b := newPair(t, nil, nil, nil)
	for range n {
		if _, err := net.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []*testPeer{a, b} {
		p.e.mu.Lock()
		if p.e.sasPeak != n {
			t.Errorf("peak %d SAs, want %d", p.e.sasPeak, n)
		}
		p.e.mu.Unlock()
	}
	a.e.mu.Lock()
	var all []*ikeSA
	for _, sa := range a.e.sas {
		all = append(all, sa)
	}
	a.e.mu.Unlock()
	for _, sa := range all[:n-keep] {
		sa.lock()
		sa.deleteLocked(nil)
		sa.unlock()
		net.drain()
	}
	// The peer keeps a deleted SA a while to answer a retransmitted Delete.
	net.advance(time.Minute)
	for name, p := range map[string]*testPeer{"A": a, "B": b} {
		p.e.mu.Lock()
		left, peak := len(p.e.sas), p.e.sasPeak
		p.e.mu.Unlock()
		if left != keep {
			t.Fatalf("%s: %d SAs left, want %d", name, left, keep)
		}
		// Re-made when 1100/8 = 137 were left, so its peak since is that.
		if peak > n/mapShrinkFactor {
			t.Errorf("%s: the SA table's peak is %d with %d left: never re-made", name, peak, left)
		}
	}
	checkConsistent(t, a, b, keep)
	// The survivors still rekey and delete.
	done := startChildRekey(t, a, a.e.SAs()[0].Children[0].SPIIn, DHCurve25519)
	net.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	net.drain()
	checkConsistent(t, a, b, keep)
}
