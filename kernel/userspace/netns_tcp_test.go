package userspace

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"testing"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// bulkTCPSize is how many bytes TestNetnsBulkTCP carries each way: 64 MiB
// by default, so that the test fits make test; OEMESH_BULK_TCP_MB sets it
// (OEMESH_BULK_TCP_MB=1024 for the gigabyte).
func bulkTCPSize(t *testing.T) int64 {
	s := os.Getenv("OEMESH_BULK_TCP_MB")
	if s == "" {
		return 64 << 20
	}
	mb, err := strconv.Atoi(s)
	if err != nil || mb <= 0 {
		t.Fatalf("OEMESH_BULK_TCP_MB=%q: want a positive number of MiB", s)
	}
	return int64(mb) << 20
}

// TestNetnsBulkTCP carries TCP both ways through userspace ESP, over raw
// ESP and over ESP-in-UDP (IPv4, and IPv6 with offloads), with the offloads on (TSO and GRO on the TUN
// device, UDP GSO and GRO) and forced off: the bytes must arrive with the
// same SHA-256, and a capture on the wire must see nothing in clear but
// ARP and neighbour discovery, and no packet dropped as a replay or for
// its authentication.
func TestNetnsBulkTCP(t *testing.T) {
	size := bulkTCPSize(t)
	for _, c := range []struct{ off, encap, v6 bool }{
		{false, false, false}, {false, true, false}, {false, true, true},
		{true, false, false}, {true, true, false},
	} {
		off, encap := c.off, c.encap
		t.Run(fmt.Sprintf("offloads=%v/encap=%v/v6=%v", !off, encap, c.v6), func(t *testing.T) {
			p := netnstest.NewPair(t, "ust")
			cfg := Config{NoOffloads: off}
			da, db := startDevice(t, p.A, cfg), startDevice(t, p.B, cfg)
			for _, d := range []*Device{da, db} {
				s := d.Stats()
				if s.Offloads == off || (off && (s.UDPGSO || s.UDPGRO || s.TUNBatch != 1)) {
					t.Fatalf("NoOffloads %v: stats %+v", off, s)
				}
				t.Logf("TUN batch %d, offloads %v, UDP GSO %v, GRO %v", s.TUNBatch, s.Offloads, s.UDPGSO, s.UDPGRO)
			}
			a, b := p.A4, p.B4
			if c.v6 {
				a, b = p.A6, p.B6
			}
			trap(t, da, host(b), kernel.GroupPrivate)
			trap(t, db, host(a), kernel.GroupPrivate)
			pa, pb := testPairs(t, a, b, kernel.ModeTunnel, kernel.AESGCM16, true)
			if encap {
				pa.Encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
				pb.Encap = pa.Encap
			}
			install(t, da, db, pa, pb)

			capt := startCapture(t, p.A, p.ADev)
			for _, dir := range []struct {
				name     string
				from, to *netnstest.NS
				at       netip.Addr
			}{{"A→B", p.A, p.B, b}, {"B→A", p.B, p.A, a}} {
				sent, got := tcpTransfer(t, dir.from, dir.to, netip.AddrPortFrom(dir.at, 5001), size)
				if sent != got {
					t.Fatalf("TCP %s: sent SHA-256 %x, received %x", dir.name, sent, got)
				}
			}
			counts := capt.stop()
			t.Logf("frames on %s: %v", p.ADev, counts)
			want := "esp"
			if encap {
				want = "esp-in-udp"
			}
			for k, n := range counts {
				switch k {
				case want, "arp", "nd":
				default:
					t.Errorf("%d frames of %s crossed the wire, want only %s", n, k, want)
				}
			}
			// At least one frame per 64 KiB each way: a veth passes
			// a UDP GSO run on uncut, and the capture sees it whole.
			if min := int(2 * size / 65536); counts[want] < min {
				t.Errorf("%d %s frames for %d bytes each way, want at least %d", counts[want], want, size, min)
			}
			for _, d := range []*Device{da, db} {
				if s := d.Stats(); s.Dropped["auth"]+s.Dropped["replay"]+s.Dropped["no-sa"]+s.Dropped["tun-write"] != 0 {
					t.Errorf("drops during a clean transfer: %v", s.Dropped)
				}
			}
		})
	}
}
