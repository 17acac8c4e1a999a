package flooder

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestTemplate: a stamped packet is a whole IPv4/UDP datagram around the
// request, from the source given, and two stamps differ in the SPI, the
// nonce and the public value, where the offsets say they lie.
func TestTemplate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dst := netip.MustParseAddrPort("198.18.0.2:500")
	tp := newTemplate(r, dst, 500)
	ike := tp.pkt[ikeOffset:]
	if got := binary.BigEndian.Uint32(ike[24:]); int(got) != len(ike) {
		t.Fatalf("IKE length %d, datagram carries %d", got, len(ike))
	}
	if ike[keOffset-ikeOffset-8+4] != 0 || ike[keOffset-ikeOffset-8+5] != 31 {
		t.Errorf("no Curve25519 KE payload header before offset %d", keOffset)
	}
	if binary.BigEndian.Uint16(tp.pkt[nonceOffset-2:]) != 4+32 || tp.pkt[nonceOffset-4] != 0 {
		t.Errorf("no 32-octet Nonce payload, the last, before offset %d", nonceOffset)
	}
	src := netip.MustParseAddr("100.64.3.4")
	tp.stamp(r, src)
	first := append([]byte(nil), tp.pkt...)
	tp.stamp(r, src)
	if netip.AddrFrom4([4]byte(first[12:16])) != src || binary.BigEndian.Uint16(first[2:]) != uint16(len(first)) {
		t.Errorf("IPv4 header: source %v, length %d", netip.AddrFrom4([4]byte(first[12:16])), binary.BigEndian.Uint16(first[2:]))
	}
	for name, off := range map[string]int{"SPI": spiOffset, "nonce": nonceOffset, "public value": keOffset} {
		if string(first[off:off+8]) == string(tp.pkt[off:off+8]) {
			t.Errorf("two stamps have the same %s", name)
		}
	}
}

// TestClassify: the answer counter tells a cookie demand from a full
// answer and from anything else.
func TestClassify(t *testing.T) {
	hdr := func(next byte, flags byte) []byte {
		b := make([]byte, 28)
		b[16], b[17], b[18], b[19] = next, 0x20, 34, flags
		return b
	}
	cookie := append(hdr(41, 0x20), 0, 0, 0, 25, 0, 0, 0x40, 0x06)
	full := append(hdr(33, 0x20), make([]byte, 40)...)
	request := append(hdr(33, 0x08), make([]byte, 40)...)
	other := append(hdr(41, 0x20), 0, 0, 0, 8, 0, 0, 0, 14) // NO_PROPOSAL_CHOSEN
	for _, c := range []struct {
		name string
		b    []byte
		want answerKind
	}{{"cookie", cookie, kindCookie}, {"full", full, kindFull}, {"request", request, kindOther}, {"other notify", other, kindOther}, {"short", []byte{1, 2}, kindOther}} {
		if got := classify(c.b); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
