package xfrm

import "testing"

// ours counts what of ours is left in the kernel.
func ours(t testing.TB, look *executor) (pols, sas int) {
	t.Helper()
	ps, err := look.policies()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if _, in := classOf(DefaultPriorityBase, p.Priority); in {
			t.Logf("left: %s", p)
			pols++
		}
	}
	ss, err := look.states()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.Reqid >= DefaultReqIDBase && s.Reqid < DefaultReqIDBase+ReqIDBand {
			sas++
		}
	}
	return pols, sas
}

// keyedOurs counts the states under our reqids that are not larval. A
// larval (acquire) state, SPI 0, is the kernel's, made for a packet
// queued under one of our traps; a trap kept across a restart makes a new
// one each time the kernel retries that packet, so it says nothing about
// what a run left behind.
func keyedOurs(t testing.TB, look *executor) (n int) {
	t.Helper()
	ss, err := look.states()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.Reqid < DefaultReqIDBase || s.Reqid >= DefaultReqIDBase+ReqIDBand {
			continue
		}
		if s.SPI == 0 {
			t.Logf("larval: %s→%s reqid %d", s.Src, s.Dst, s.Reqid)
			continue
		}
		t.Logf("keyed: %s→%s spi %#08x reqid %d", s.Src, s.Dst, s.SPI, s.Reqid)
		n++
	}
	return n
}
