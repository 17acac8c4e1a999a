package ike

import (
	"runtime"
	"testing"
)

// TestResponderHandshakeAllocs holds the responder's allocations per
// handshake (IKE_SA_INIT and IKE_AUTH with one CHILD SA, PSK and
// Ed25519, as BenchmarkHandshake's resp-allocs/op counts them) under a
// ceiling: GC and malloc were about 7% of oemeshd's CPU, and issue 21's
// work took the count from about 250 to under 185. A change that brings
// back a copy or a builder per payload, transform or message fails here
// rather than only in a benchmark nobody reads.
func TestResponderHandshakeAllocs(t *testing.T) {
	const ceiling = 195
	for _, c := range []struct {
		name string
		auth AuthKind
	}{{"psk", AuthKindPSK}, {"ed25519", AuthKindPubkey}} {
		n, ini, resp := newPair(t, newEd25519(t), newEd25519(t), func(cfg *EngineConfig) {
			cfg.Logger = nil
			cfg.HalfOpenCookieThreshold = 1 << 20
		})
		var ms runtime.MemStats
		var allocs uint64
		n.wrap = func(e *Engine, deliver func()) {
			if e != resp.e {
				deliver()
				return
			}
			runtime.ReadMemStats(&ms)
			before := ms.Mallocs
			deliver()
			runtime.ReadMemStats(&ms)
			allocs += ms.Mallocs - before
		}
		const rounds = 10
		for i := range rounds + 1 {
			if i == 1 {
				allocs = 0 // the first handshake warms caches up
			}
			if _, err := n.initiate(ini, resp, InitiateOptions{Auth: c.auth}); err != nil {
				t.Fatal(err)
			}
			n.drain()
			killAll(ini)
			killAll(resp)
			n.log = n.log[:0]
		}
		per := float64(allocs) / rounds
		t.Logf("%s: %.1f allocations per handshake in the responder", c.name, per)
		if per > ceiling {
			t.Errorf("%s: the responder made %.1f allocations per handshake, want at most %d", c.name, per, ceiling)
		}
	}
}
