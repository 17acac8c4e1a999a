package userspace

import (
	"maps"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

// TestHoldTableHeldChanges: with GuardNegotiating the hold table reports a
// destination once when its first flow is held and once when its last one
// goes (forget, take, expired), as the state at the time it is asked;
// without it, nothing.
func TestHoldTableHeldChanges(t *testing.T) {
	cfg, _ := (&Config{GuardNegotiating: true}).withDefaults()
	h := newHoldTable(&cfg)
	p := newPools()
	now := time.Unix(1000, 0)
	b := netip.MustParseAddr("192.0.2.2")
	c := netip.MustParseAddr("2001:db8::3")
	f1 := kernel.Flow{Src: netip.MustParseAddr("192.0.2.1"), Dst: b, Proto: 17, SrcPort: 1000, DstPort: 9}
	f2 := f1
	f2.SrcPort = 1001
	f3 := kernel.Flow{Src: netip.MustParseAddr("2001:db8::1"), Dst: c, Proto: 58}
	check := func(what string, want map[netip.Addr]bool, notified bool) {
		t.Helper()
		select {
		case <-h.notify:
			if !notified {
				t.Errorf("%s: notified, want no change", what)
			}
		default:
			if notified {
				t.Errorf("%s: not notified", what)
			}
		}
		if got := h.heldChanges(); !maps.Equal(got, want) {
			t.Errorf("%s: changes %v, want %v", what, got, want)
		}
	}

	h.add(f1, p.get(), 100, now)
	h.add(f1, p.get(), 100, now)
	h.add(f2, p.get(), 100, now)
	h.add(f3, p.get(), 100, now.Add(time.Minute))
	check("held", map[netip.Addr]bool{b: true, c: true}, true)
	h.take(func(f kernel.Flow) bool { return f == f1 })
	check("one of two flows to b released", nil, false)
	h.expired(now.Add(cfg.HoldTimeout), cfg.HoldTimeout)
	check("b's other flow expired", map[netip.Addr]bool{b: false}, true)
	buf := p.get()
	h.add(f1, buf, 100, now)
	h.forget(f1, buf)
	check("held and forgotten before anyone asked", map[netip.Addr]bool{b: false}, true)
	h.drain(p)
	check("drained", map[netip.Addr]bool{c: false}, true)

	off, _ := (&Config{}).withDefaults()
	h = newHoldTable(&off)
	h.add(f1, p.get(), 100, now)
	if h.notify != nil || h.heldChanges() != nil {
		t.Error("changes reported without GuardNegotiating")
	}
}
