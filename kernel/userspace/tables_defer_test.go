package userspace

import (
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

// TestDeferredOutbound: a responder's rekeyed pair is not used outbound
// while the older pair lives, until its inbound side has opened a packet.
func TestDeferredOutbound(t *testing.T) {
	local, remote := netip.MustParsePrefix("198.18.0.2/32"), netip.MustParsePrefix("198.18.0.1/32")
	mk := func(order uint64, deferOut bool) *pair {
		p := &pair{local: []netip.Prefix{local}, remote: []netip.Prefix{remote}, order: order, mode: kernel.ModeTransport}
		p.deferOut.Store(deferOut)
		return p
	}
	old, nw := mk(1, false), mk(2, true)
	tb := &tables{out: newOutTable()}
	tb.out.Insert(remote, []*pair{nw, old}) // newest first
	src, dst := local.Addr(), remote.Addr()
	if got := tb.lookupOut(src, dst); got != old {
		t.Fatalf("deferred pair used before the peer was heard on it")
	}
	nw.deferOut.Store(false) // what openElem does on the first packet
	if got := tb.lookupOut(src, dst); got != nw {
		t.Fatalf("new pair not used after the peer was heard on it")
	}
	nw.deferOut.Store(true)
	old.dead.Store(true)
	if got := tb.lookupOut(src, dst); got != nw {
		t.Fatalf("deferred pair not used once the old one is gone")
	}
}
