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
