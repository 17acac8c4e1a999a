package xfrm

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink/nl"
)

func TestPolicyRoundTrip(t *testing.T) {
	for _, p := range []policy{
		{Sel: selector{Src: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParsePrefix("192.0.2.0/24")}, Dir: dirOut, Priority: 7,
			Tmpl: &tmpl{Family: 2, Mode: modeTransport, Reqid: 42}},
		{Sel: selector{Src: netip.MustParsePrefix("2001:db8::1/128"), Dst: netip.MustParsePrefix("2001:db8::2/128"), Proto: 17, SrcPort: 500, DstPort: 4500},
			Dir: dirIn, Action: actionBlock, Priority: 9, HardAdd: 3 * time.Second},
	} {
		b := p.marshalInfo()
		if p.Tmpl != nil {
			b = append(b, nl.NewRtAttr(nl.XFRMA_TMPL, p.Tmpl.marshal()).Serialize()...)
		}
		got, err := parsePolicy(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Sel != p.Sel || got.Dir != p.Dir || got.Action != p.Action || got.Priority != p.Priority || got.HardAdd != p.HardAdd {
			t.Errorf("round trip of %s: got %+v", p, got)
		}
		if (got.Tmpl == nil) != (p.Tmpl == nil) || (p.Tmpl != nil && got.Tmpl.Reqid != p.Tmpl.Reqid) {
			t.Errorf("round trip of %s: template %+v", p, got.Tmpl)
		}
	}
}

func TestPriorityMostSpecificWins(t *testing.T) {
	any4 := netip.MustParsePrefix("0.0.0.0/0")
	p24 := priority(DefaultPriorityBase, classTrap, selector{Src: any4, Dst: netip.MustParsePrefix("192.0.2.0/24")})
	p32 := priority(DefaultPriorityBase, classTrap, selector{Src: any4, Dst: netip.MustParsePrefix("192.0.2.7/32")})
	p0 := priority(DefaultPriorityBase, classTrap, selector{Src: any4, Dst: any4})
	if !(p32 < p24 && p24 < p0) {
		t.Fatalf("trap priorities /32 %d, /24 %d, /0 %d: want /32 < /24 < /0", p32, p24, p0)
	}
	host := selector{Src: netip.MustParsePrefix("192.0.2.1/32"), Dst: netip.MustParsePrefix("192.0.2.7/32")}
	shunt := priority(DefaultPriorityBase, classShunt, host)
	sa := priority(DefaultPriorityBase, classSA, host)
	if !(sa < shunt && shunt < p32) {
		t.Fatalf("SA %d < shunt %d < trap %d does not hold", sa, shunt, p32)
	}
	for _, p := range []uint32{p0, p24, p32, shunt, sa} {
		if _, ours := classOf(DefaultPriorityBase, p); !ours {
			t.Fatalf("priority %d outside our band", p)
		}
	}
	if _, ours := classOf(DefaultPriorityBase, 0); ours {
		t.Fatal("priority 0 counted as ours")
	}
	v6 := priority(DefaultPriorityBase, classTrap, selector{Src: netip.MustParsePrefix("::/0"), Dst: netip.MustParsePrefix("2001:db8::/32")})
	if _, ours := classOf(DefaultPriorityBase, v6); !ours {
		t.Fatalf("IPv6 trap priority %d outside our band", v6)
	}
}

func TestParseAcquire(t *testing.T) {
	// An ACQUIRE as the kernel builds it for ping 2001:db8::2 under a trap.
	b := make([]byte, sizeofAcquire)
	flow := selector{Src: netip.MustParsePrefix("2001:db8::1/128"), Dst: netip.MustParsePrefix("2001:db8::2/128"), Proto: 58, SrcPort: 128}
	putAddr(b[0:], flow.Dst.Addr())
	b[20] = protoESP
	putAddr(b[24:], flow.Src.Addr())
	putSelector(b[40:], flow)
	trap := policy{Sel: selector{Src: netip.MustParsePrefix("::/0"), Dst: netip.MustParsePrefix("2001:db8::/64")}, Dir: dirOut, Priority: 1234, Index: 17}
	copy(b[96:], trap.marshalInfo())
	ne.PutUint32(b[276:], 3)
	m, err := parseAcquire(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Flow != flow || m.Policy.Sel != trap.Sel || m.Policy.Priority != 1234 || m.Policy.Index != 17 || m.Seq != 3 {
		t.Fatalf("parsed %+v", m)
	}
	if _, err := parseAcquire(b[:100]); err == nil {
		t.Fatal("short acquire accepted")
	}
	b[40+offSelFamily] = 99
	if _, err := parseAcquire(b); err == nil {
		t.Fatal("acquire with unknown family accepted")
	}
}

func TestStateMarshal(t *testing.T) {
	s := state{Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("192.0.2.2"), SPI: 0x1234, AEAD: 1, Key: make([]byte, 20), Replay: 64}
	head, attrs, err := s.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if head[offInfoReplay] != 0 || head[offInfoFlags]&stateFlagESN != 0 {
		t.Fatal("window 64 must go in XFRMA_REPLAY_ESN_VAL without the ESN flag")
	}
	var esnAttr bool
	for _, a := range attrs {
		esnAttr = esnAttr || a.Type == nl.XFRMA_REPLAY_ESN_VAL
	}
	if !esnAttr {
		t.Fatal("no XFRMA_REPLAY_ESN_VAL for a window over 32")
	}
	si, err := parseState(head)
	if err != nil || si.SPI != 0x1234 || si.Dst != s.Dst || si.Src != s.Src {
		t.Fatalf("parse back: %+v, %v", si, err)
	}
	s.Key = make([]byte, 16)
	if _, _, err := s.marshal(); err == nil {
		t.Fatal("GCM key without salt accepted")
	}
}

func FuzzParseAcquire(f *testing.F) {
	f.Add(make([]byte, sizeofAcquire))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseAcquire(b) })
}

func FuzzParseExpire(f *testing.F) {
	f.Add(make([]byte, sizeofExpire))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parseExpire(b) })
}

func FuzzParsePolExpire(f *testing.F) {
	f.Add(make([]byte, sizeofPolExpire))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parsePolExpire(b) })
}

func FuzzParsePolicy(f *testing.F) {
	p := policy{Sel: selector{Src: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParsePrefix("192.0.2.0/24")}, Tmpl: &tmpl{Family: 2}}
	f.Add(append(p.marshalInfo(), nl.NewRtAttr(nl.XFRMA_TMPL, p.Tmpl.marshal()).Serialize()...))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = parsePolicy(b) })
}

func BenchmarkParseAcquire(b *testing.B) {
	buf := make([]byte, sizeofAcquire)
	flow := selector{Src: netip.MustParsePrefix("192.0.2.1/32"), Dst: netip.MustParsePrefix("192.0.2.2/32"), Proto: 17, SrcPort: 4000, DstPort: 53}
	putSelector(buf[40:], flow)
	copy(buf[96:], policy{Sel: selector{Src: netip.MustParsePrefix("0.0.0.0/0"), Dst: netip.MustParsePrefix("192.0.2.0/24")}}.marshalInfo())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseAcquire(buf); err != nil {
			b.Fatal(err)
		}
	}
}
