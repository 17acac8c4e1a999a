package userspace

import (
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

// denseTables is 10,000 pairs, their peers 198.18.0.0–198.18.39.15 (every
// /24 but the last full), and one more pair for a peer among them.
func denseTables(tb testing.TB) (*tables, *pair) { return peerTables(tb, 10000) }

// peerTables is n pairs, their peers from 198.18.0.0 up, and one more
// pair for the peer 198.18.1.44 (among them when n > 300).
func peerTables(tb testing.TB, n int) (*tables, *pair) {
	local := netip.MustParseAddr("192.0.2.1")
	pairs := map[kernel.SAPairID]*pair{}
	mk := func(i int, remote netip.Addr) *pair {
		spa, _ := testPairs(tb, local, remote, kernel.ModeTransport, kernel.AESGCM16, false)
		spa.In.SPI, spa.Out.SPI = uint32(0x10000+i), uint32(0x90000+i)
		p, err := newPair(spa, time.Unix(1000, 0), uint64(i+1), testSockets())
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	for i := range n {
		p := mk(i, netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}))
		pairs[p.id] = p
	}
	return buildTables(nil, pairs, nil), mk(20000, netip.AddrFrom4([4]byte{198, 18, 1, 44}))
}

// BenchmarkSnapshotInstallDense is one pair published and taken away
// again among 10,000 whose peers fill their /24s (BenchmarkSnapshotInstall
// puts its extra pair in an empty /24).
func BenchmarkSnapshotInstallDense(b *testing.B) {
	t, extra := denseTables(b)
	b.ReportAllocs()
	for b.Loop() {
		t.withPair(extra).withoutPair(extra)
	}
}

// BenchmarkSnapshotInstallFew is BenchmarkSnapshotInstallDense with 30
// pairs installed, as on a responder with few peers up.
func BenchmarkSnapshotInstallFew(b *testing.B) {
	t, extra := peerTables(b, 30)
	b.ReportAllocs()
	for b.Loop() {
		t.withPair(extra).withoutPair(extra)
	}
}

// BenchmarkLookupOutDense is the data path's outbound look-up among the
// 10,000 pairs of denseTables: a peer's address (a host selector) and an
// address no pair covers.
func BenchmarkLookupOutDense(b *testing.B) {
	t, _ := denseTables(b)
	local := netip.MustParseAddr("192.0.2.1")
	for _, c := range []struct {
		name string
		dst  netip.Addr
	}{{"host", netip.AddrFrom4([4]byte{198, 18, 7, 9})}, {"none", netip.AddrFrom4([4]byte{203, 0, 113, 9})}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				_ = t.lookupOut(local, c.dst)
			}
		})
	}
}
