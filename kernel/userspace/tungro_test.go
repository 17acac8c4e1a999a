package userspace

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// groSegment returns a TCP segment of payload octets from sport to dport
// with sequence number seq, in a pooled-size buffer with tunOffset
// octets of room in front, as the TUN writer hands it on.
func groSegment(src, dst netip.Addr, sport, dport uint16, seq uint32, payload int) []byte {
	buf := new(packetBuf)
	iph := ipv4HeaderLen
	if src.Is6() {
		iph = ipv6HeaderLen
	}
	n := iph + 20 + payload
	pkt := buf[tunOffset : tunOffset+n]
	if src.Is4() {
		writeIPv4Header(pkt[:iph], src, dst, protoTCP, 0, 64, n)
	} else {
		writeIPv6Header(pkt[:iph], src, dst, protoTCP, 0, 64, n-iph)
	}
	tcp := pkt[iph:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	tcp[12], tcp[13] = 5<<4, 0x10 // 20 octets, ACK
	for i := range payload {
		tcp[20+i] = byte(seq) + byte(i)
	}
	fixL4Checksum(tcp, protoTCP, src, dst)
	return buf[:tunOffset+n]
}

func TestGROHeadsPromote(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	a6, b6 := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	const pay = 1360
	var out [][]byte
	// 50 segments of one flow: the first 48 fit one IP packet (20 + 20 +
	// 48 × 1360 = 65,320 octets), the 49th starts a second run.
	for i := range 50 {
		out = append(out, groSegment(a, b, 1000, 5001, uint32(i*pay), pay))
	}
	// A lone segment of another flow, then two of a third (IPv6), then
	// two ICMP-like packets that are no candidates.
	out = append(out, groSegment(a, b, 1001, 5001, 0, pay))
	out = append(out, groSegment(a6, b6, 1000, 5001, 0, pay), groSegment(a6, b6, 1000, 5001, pay, pay))
	icmp := groSegment(a, b, 1000, 5001, 0, 100)
	icmp[tunOffset+9] = 1
	out = append(out, icmp, bytes.Clone(icmp))
	orig := make([][]byte, len(out))
	for i := range out {
		orig[i] = bytes.Clone(out[i])
	}
	var g groHeads
	g.promote(out)
	heads := map[int]bool{0: true, 48: true, 51: true}
	for i := range out {
		if !bytes.Equal(out[i], orig[i]) {
			t.Errorf("packet %d changed", i)
		}
		if big := cap(out[i]) == groHeadSize; big != heads[i] {
			t.Errorf("packet %d: in a large buffer %v, want %v", i, big, heads[i])
		}
	}
	if len(g.taken) != len(heads) {
		t.Errorf("%d large buffers taken, want %d", len(g.taken), len(heads))
	}
	g.release()
	if len(g.taken) != 0 {
		t.Errorf("%d large buffers still taken after release", len(g.taken))
	}
}

// TestGROHeadsMax: a write never takes more than groHeadsMax large
// buffers, however many runs it has.
func TestGROHeadsMax(t *testing.T) {
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	var out [][]byte
	for f := range 2 * groHeadsMax {
		out = append(out, groSegment(a, b, uint16(1000+f), 5001, 0, 100), groSegment(a, b, uint16(1000+f), 5001, 100, 100))
	}
	var g groHeads
	g.promote(out)
	if len(g.taken) != groHeadsMax {
		t.Errorf("%d large buffers taken for %d runs, want %d", len(g.taken), 2*groHeadsMax, groHeadsMax)
	}
	g.release()
}

// TestNetnsGROHeads carries TCP over ESP-in-UDP and reads how much the
// receiving TUN device took per packet written: with the large heads the
// TUN device's GRO coalesces beyond a pooled buffer's 9 KiB; with
// Techniques.SmallGROHeads it cannot.
func TestNetnsGROHeads(t *testing.T) {
	for _, small := range []bool{false, true} {
		t.Run(map[bool]string{false: "large", true: "small"}[small], func(t *testing.T) {
			p := netnstest.NewPair(t, "ustgh")
			cfg := Config{TUNName: "ustgh0", Techniques: Techniques{SmallGROHeads: small}}
			da, db := startDevice(t, p.A, cfg), startDevice(t, p.B, cfg)
			if !db.Stats().Offloads {
				t.Fatal("no TUN offloads: the TUN device's GRO cannot be measured")
			}
			trap(t, da, host(p.B4), kernel.GroupPrivate)
			trap(t, db, host(p.A4), kernel.GroupPrivate)
			pa, pb := testPairs(t, p.A4, p.B4, kernel.ModeTransport, kernel.AESGCM16, true)
			pa.Encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
			pb.Encap = pa.Encap
			install(t, da, db, pa, pb)
			nl := p.B.Netlink(t)
			stats := func() (pkts, bytes uint64) {
				l, err := nl.LinkByName("ustgh0")
				if err != nil {
					t.Fatal(err)
				}
				s := l.Attrs().Statistics
				return s.RxPackets, s.RxBytes
			}
			p0, b0 := stats()
			sent, got := tcpTransfer(t, p.A, p.B, netip.AddrPortFrom(p.B4, 5001), 32<<20)
			if sent != got {
				t.Fatalf("TCP: sent SHA-256 %x, received %x", sent, got)
			}
			p1, b1 := stats()
			avg := float64(b1-b0) / float64(p1-p0)
			t.Logf("%d packets, %d bytes written to B's TUN device: %.0f bytes each", p1-p0, b1-b0, avg)
			if small && avg > bufSize {
				t.Errorf("SmallGROHeads: %.0f bytes per TUN packet, more than a pooled buffer holds (%d)", avg, bufSize)
			}
			// The sender's TSO bursts bound the runs (15 KiB on average
			// in a short transfer on a loaded 2-core box, 7.6 KiB with
			// SmallGROHeads): more than a pooled buffer shows large heads.
			if !small && avg <= bufSize {
				t.Errorf("%.0f bytes per TUN packet, want more than %d: the runs are not coalesced beyond a pooled buffer", avg, bufSize)
			}
		})
	}
}

// BenchmarkGROHeads is the writer's work for a batch of 64 full-sized
// segments of one flow: two heads moved into large buffers, and back.
func BenchmarkGROHeads(b *testing.B) {
	a, d := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	var segs [][]byte
	for i := range socketBatch {
		segs = append(segs, groSegment(a, d, 1000, 5001, uint32(i*1360), 1360))
	}
	out := make([][]byte, len(segs))
	var g groHeads
	b.ReportAllocs()
	for b.Loop() {
		copy(out, segs)
		g.promote(out)
		g.release()
	}
}
