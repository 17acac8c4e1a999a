package userspace

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// refSum is the checksum the slow way, 16 bits at a time, folded: what
// fixL4Checksum did before onesSum.
func refSum(b []byte, acc uint64) uint16 {
	i := 0
	for ; i+2 <= len(b); i += 2 {
		acc += uint64(binary.BigEndian.Uint16(b[i:]))
	}
	if i < len(b) {
		acc += uint64(b[i]) << 8
	}
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// TestOnesSum compares onesSum with the 16-bit reference for every length
// up to past two unrolled rounds, on random bytes, all-ones (every
// addition carries) and zeros, with small and large starting sums.
func TestOnesSum(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := range 200 {
		for _, fill := range []string{"random", "ones", "zeros"} {
			b := make([]byte, n)
			switch fill {
			case "random":
				for i := range b {
					b[i] = byte(r.Uint32())
				}
			case "ones":
				copy(b, bytes.Repeat([]byte{0xff}, n))
			}
			for _, acc := range []uint64{0, 0x1fffe, 0xffffffff} {
				if got, want := foldSum(onesSum(b, acc)), refSum(b, acc); got != want {
					t.Fatalf("%d %s bytes, start %#x: %#04x, want %#04x", n, fill, acc, got, want)
				}
			}
		}
	}
}

func FuzzOnesSum(f *testing.F) {
	f.Add([]byte{0xff, 0xff, 0xff}, uint32(0))
	f.Add(bytes.Repeat([]byte{0xff}, 1401), uint32(0xffffffff))
	f.Fuzz(func(t *testing.T, b []byte, acc uint32) {
		if got, want := foldSum(onesSum(b, uint64(acc))), refSum(b, uint64(acc)); got != want {
			t.Fatalf("%d bytes, start %#x: %#04x, want %#04x", len(b), acc, got, want)
		}
	})
}

// BenchmarkFixL4Checksum is the per-packet cost of the transport-mode
// ESP-in-UDP checksum on a full-sized TCP segment.
func BenchmarkFixL4Checksum(b *testing.B) {
	seg := make([]byte, 1380)
	for i := range seg {
		seg[i] = byte(i * 7)
	}
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	b.SetBytes(int64(len(seg)))
	for b.Loop() {
		fixL4Checksum(seg, protoTCP, src, dst)
	}
}

// TestChecksumLearning: an SA whose first checksummed segment arrives
// intact skips the sum from then on; one whose segment needed fixing (a
// NAT between) fixes every later one; segments without a checksum to
// check (IPv4 UDP without one, other protocols) teach nothing.
func TestChecksumLearning(t *testing.T) {
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	private := netip.MustParseAddr("10.0.0.1") // the sender's address behind a NAT
	seg := func(from netip.Addr, proto uint8, payload int) []byte {
		s := make([]byte, 20+payload)
		for i := range s {
			s[i] = byte(i*7 + payload)
		}
		if proto == protoUDP {
			binary.BigEndian.PutUint16(s[4:], uint16(len(s)))
		}
		fixL4Checksum(s, proto, from, dst)
		return s
	}
	valid := func(s []byte, proto uint8) bool {
		c := bytes.Clone(s)
		_, intact := fixL4Checksum(c, proto, src, dst)
		return intact
	}

	direct := inSA{pair: &pair{}}
	noSum := seg(src, protoUDP, 100)
	noSum[6], noSum[7] = 0, 0
	direct.fixChecksum(noSum, protoUDP, src, dst)
	direct.fixChecksum(seg(src, 1, 100), 1, src, dst)
	if st := direct.pair.l4sum.Load(); st != l4Unknown {
		t.Fatalf("after segments without a checksum: state %d, want unknown", st)
	}
	direct.fixChecksum(seg(src, protoTCP, 1000), protoTCP, src, dst)
	if st := direct.pair.l4sum.Load(); st != l4Intact {
		t.Fatalf("after an intact TCP segment: state %d, want intact", st)
	}
	// Now the sum is skipped: a segment is passed as it is (one with a
	// wrong checksum shows it; ESP authentication rules that out for
	// real traffic).
	wrong := seg(private, protoTCP, 500)
	before := bytes.Clone(wrong)
	direct.fixChecksum(wrong, protoTCP, src, dst)
	if !bytes.Equal(wrong, before) {
		t.Fatal("an intact SA's segment was rewritten")
	}

	natted := inSA{pair: &pair{}}
	for i, proto := range []uint8{protoTCP, protoUDP, protoTCP} {
		s := seg(private, proto, 300+i)
		if valid(s, proto) {
			t.Fatal("test segment's checksum holds for the public addresses")
		}
		natted.fixChecksum(s, proto, src, dst)
		if !valid(s, proto) {
			t.Fatalf("segment %d behind a NAT: checksum not fixed", i)
		}
		if st := natted.pair.l4sum.Load(); st != l4Fix {
			t.Fatalf("segment %d behind a NAT: state %d, want fix", i, st)
		}
	}
	// A segment that happens to be intact does not undo the fix state.
	natted.fixChecksum(seg(src, protoTCP, 10), protoTCP, src, dst)
	if st := natted.pair.l4sum.Load(); st != l4Fix {
		t.Fatalf("fix state left for %d", st)
	}
}

// BenchmarkFixChecksum is the per-packet checksum work of an opened
// transport-mode ESP-in-UDP TCP segment (1,380 octets): on an SA whose
// peer's checksums hold (learned: nothing to do) and on one behind a NAT
// (every segment summed and fixed).
func BenchmarkFixChecksum(b *testing.B) {
	src, dst := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for _, c := range []struct {
		name string
		from netip.Addr
	}{{"intact", src}, {"nat", netip.MustParseAddr("10.0.0.1")}} {
		b.Run(c.name, func(b *testing.B) {
			seg := make([]byte, 1380)
			for i := range seg {
				seg[i] = byte(i)
			}
			seg[12] = 5 << 4
			fixL4Checksum(seg, protoTCP, c.from, dst)
			var sa inSA
			sa.fixChecksum(seg, protoTCP, src, dst)
			b.SetBytes(int64(len(seg)))
			b.ReportAllocs()
			for b.Loop() {
				sa.fixChecksum(seg, protoTCP, src, dst)
			}
		})
	}
}
