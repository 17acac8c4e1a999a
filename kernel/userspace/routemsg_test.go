package userspace

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/kernel"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// freshRouteMsg is the route message as appendRouteMsg built it with new
// nl objects for each message (the Handle's way): the reference for the
// builder that keeps them.
func freshRouteMsg(b []byte, seq uint32, op *routeOp) []byte {
	req := nl.NewNetlinkRequest(unix.RTM_NEWROUTE, unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_REPLACE)
	msg := nl.NewRtMsg()
	if op.del {
		req = nl.NewNetlinkRequest(unix.RTM_DELROUTE, unix.NLM_F_ACK)
		msg = nl.NewRtDelMsg()
	}
	req.Seq = seq
	dst := op.dst.Addr()
	addr := dst.AsSlice()
	msg.Family = unix.AF_INET6
	if dst.Is4() || dst.Is4In6() {
		msg.Family = unix.AF_INET
		a := dst.Unmap().As4()
		addr = a[:]
	}
	msg.Dst_len = uint8(op.dst.Bits())
	msg.Scope = op.scope
	msg.Type = op.typ
	if op.typ == 0 && !op.del {
		msg.Type = unix.RTN_UNICAST
	}
	msg.Table = unix.RT_TABLE_UNSPEC
	if op.table < 256 {
		msg.Table = uint8(op.table)
	}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.RTA_DST, addr))
	if op.table >= 256 {
		req.AddData(nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(op.table)))
	}
	req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(op.oif)))
	return append(b, req.Serialize()...)
}

// TestRouteMsgReuse: the builder that keeps its nl objects writes, message
// after message, what fresh objects write, whatever the message before
// was (add after delete, IPv4 after IPv6, with and without RTA_TABLE),
// and allocates only in the nl types' own Serialize.
func TestRouteMsgReuse(t *testing.T) {
	ops := []routeOp{
		{dst: netip.MustParsePrefix("198.18.3.4/32"), scope: unix.RT_SCOPE_LINK, oif: 7, table: 220},
		{del: true, dst: netip.MustParsePrefix("198.18.3.4/32"), scope: unix.RT_SCOPE_LINK, oif: 7, table: 220},
		{dst: netip.MustParsePrefix("2001:db8::/48"), scope: unix.RT_SCOPE_LINK, oif: 9, table: 3000},
		{dst: netip.MustParsePrefix("10.0.0.0/8"), typ: unix.RTN_THROW, table: 3000},
		{del: true, dst: netip.MustParsePrefix("2001:db8::7/128"), table: 100},
		{dst: netip.MustParsePrefix("::ffff:10.1.2.3/128"), typ: unix.RTN_BLACKHOLE, table: 100},
		{dst: netip.MustParsePrefix("0.0.0.0/0"), scope: unix.RT_SCOPE_LINK, oif: 1, table: 255},
	}
	var m routeMsg
	for round := range 2 {
		for i := range ops {
			seq := uint32(100*round + i)
			got := m.appendRouteMsg([]byte{0xee}, seq, &ops[i])
			want := freshRouteMsg([]byte{0xee}, seq, &ops[i])
			if !bytes.Equal(got, want) {
				t.Errorf("round %d, op %d (%+v):\n got %x\nwant %x", round, i, ops[i], got, want)
			}
		}
	}
	buf := make([]byte, 0, 4096)
	n := testing.AllocsPerRun(100, func() {
		buf = m.appendRouteMsg(buf[:0], 1, &ops[0])
		buf = m.appendRouteMsg(buf, 2, &ops[1])
	})
	// NetlinkRequest.Serialize: its list of parts, RTA_DST's and RTA_OIF's
	// buffers and the message: 4 a message.
	if n > 8 {
		t.Errorf("an SA's route add and delete allocate %.0f times, want at most 8 (the nl types' Serialize)", n)
	}
}

// TestRouterOp: each group's route change (what the Handle writes for
// route(p, g)), built without allocating.
func TestRouterOp(t *testing.T) {
	r := &router{table: 220, tunIndex: 7}
	p := netip.MustParsePrefix("198.18.3.4/24")
	for _, tc := range []struct {
		g          kernel.Group
		typ, scope uint8
		oif        uint32
	}{
		{kernel.GroupPrivate, 0, unix.RT_SCOPE_LINK, 7},
		{kernel.GroupPrivateOrClear, 0, unix.RT_SCOPE_LINK, 7},
		{kernel.GroupClear, unix.RTN_THROW, 0, 0},
		{kernel.GroupClearOrPrivate, unix.RTN_THROW, 0, 0},
		{kernel.GroupBlock, unix.RTN_BLACKHOLE, 0, 0},
	} {
		want := routeOp{del: true, dst: p.Masked(), typ: tc.typ, scope: tc.scope, oif: tc.oif, table: 220}
		if got := r.op(p, tc.g, true); got != want {
			t.Errorf("op(%s, %v) = %+v, want %+v", p, tc.g, got, want)
		}
		rt := r.route(p, tc.g)
		if rt.Type != int(tc.typ) || uint8(rt.Scope) != tc.scope || rt.LinkIndex != int(tc.oif) || rt.Table != 220 || rt.Dst.String() != "198.18.3.0/24" {
			t.Errorf("route(%s, %v) = %+v", p, tc.g, rt)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = r.op(p, kernel.GroupPrivate, false) }); n != 0 {
		t.Errorf("op allocates %.0f times, want 0", n)
	}
}
