package userspace

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/clock/clocktest"
	"github.com/oemesh/oemesh/kernel"
)

func clockedDevice() (*Device, *clocktest.Fake) {
	clk := clocktest.NewAt(time.Unix(1000, 0)) // the time mustPair installs at
	d := bareDevice()
	d.clock, d.cfg.Clock = clk, clk
	return d, clk
}

func TestLifetimesByBytes(t *testing.T) {
	d, clk := clockedDevice()
	spa, _ := testPairs(t, addrA, addrB, kernel.ModeTransport, kernel.AESGCM16, false)
	spa.Lifetime = kernel.Lifetime{SoftBytes: 1000, HardBytes: 2000}
	p := mustPair(t, spa)
	d.pairs[p.id] = p
	d.publish()
	if evs := d.expiry(clk.Advance(time.Second)); len(evs) != 0 {
		t.Fatalf("unused SA expired: %+v", evs)
	}
	p.out.ctr.add(1, 1500, clk.Now())
	evs := d.expiry(clk.Now())
	if len(evs) != 1 || evs[0].Kind != kernel.ExpireSoft || evs[0].SPI != spa.Out.SPI || evs[0].SA != spa.ID() {
		t.Fatalf("after 1500 bytes: %+v", evs)
	}
	if evs := d.expiry(clk.Now()); len(evs) != 0 {
		t.Fatalf("soft expire sent twice: %+v", evs)
	}
	p.in.ctr.add(1, 2500, clk.Now())
	evs = d.expiry(clk.Now())
	if len(evs) != 1 || evs[0].Kind != kernel.ExpireHard || evs[0].SPI != spa.In.SPI {
		t.Fatalf("after 2500 bytes in: %+v", evs)
	}
	if d.tbl.Load().lookupOut(addrA, addrB) != nil || len(d.pairs) != 0 {
		t.Fatal("hard-expired pair still carries traffic")
	}
}

func TestLifetimesByTime(t *testing.T) {
	d, clk := clockedDevice()
	spa, _ := testPairs(t, addrA, addrB, kernel.ModeTransport, kernel.ChaCha20Poly1305, true)
	spa.Lifetime = kernel.Lifetime{SoftAdd: 10 * time.Second, HardAdd: 20 * time.Second}
	p := mustPair(t, spa)
	d.pairs[p.id] = p
	d.publish()
	if evs := d.expiry(clk.Advance(9 * time.Second)); len(evs) != 0 {
		t.Fatalf("at 9 s: %+v", evs)
	}
	if evs := d.expiry(clk.Advance(time.Second)); len(evs) != 1 || evs[0].Kind != kernel.ExpireSoft {
		t.Fatalf("at 10 s: %+v", evs)
	}
	if evs := d.expiry(clk.Advance(10 * time.Second)); len(evs) != 1 || evs[0].Kind != kernel.ExpireHard {
		t.Fatalf("at 20 s: %+v", evs)
	}
	if len(d.pairs) != 0 {
		t.Fatal("pair not removed at its hard limit")
	}
}

func TestShuntHoldAndSPIExpiry(t *testing.T) {
	d, clk := clockedDevice()
	ctx := context.Background()
	f := kernel.Flow{Src: addrA, Dst: addrB}
	if err := d.SetShunt(ctx, kernel.Shunt{Flow: f, Kind: kernel.ShuntPass, Lifetime: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if d.tbl.Load().lookupShunt(kernel.Flow{Src: addrA, Dst: addrB, Proto: protoTCP, SrcPort: 1, DstPort: 2}) == nil {
		t.Fatal("proto-any shunt does not cover a TCP flow")
	}
	if evs := d.expiry(clk.Advance(4 * time.Second)); len(evs) != 0 {
		t.Fatalf("at 4 s: %+v", evs)
	}
	evs := d.expiry(clk.Advance(time.Second))
	if len(evs) != 1 || evs[0].Kind != kernel.ExpireShunt || evs[0].Flow != f {
		t.Fatalf("at 5 s: %+v", evs)
	}
	if s, _ := d.Shunts(ctx); len(s) != 0 {
		t.Fatalf("shunt left: %+v", s)
	}

	// A held flow with no decision is dropped after HoldTimeout.
	buf, n := udpPacket(addrA, addrB, []byte("x"))
	if d.hold.add(f, buf, n, clk.Now()) != heldNew {
		t.Fatal("first packet not new")
	}
	d.expiry(clk.Advance(d.cfg.HoldTimeout - time.Second))
	if _, held := d.hold.size(); held != 1 {
		t.Fatal("held flow dropped early")
	}
	d.expiry(clk.Advance(time.Second))
	if _, held := d.hold.size(); held != 0 || d.Stats().Dropped["hold-timeout"] != 1 {
		t.Fatalf("held flow not dropped at the timeout: %+v", d.Stats())
	}

	// A reserved SPI lapses.
	spi, err := d.AllocSPI(ctx, addrB, addrA)
	if err != nil || spi < 256 {
		t.Fatalf("AllocSPI: %#x %v", spi, err)
	}
	evs = d.expiry(clk.Advance(d.cfg.SPITimeout))
	if _, ok := d.spis[spi]; ok {
		t.Fatal("SPI reservation did not lapse")
	}
	if len(evs) != 1 || evs[0].Kind != kernel.ExpireSPI || evs[0].SPI != spi || evs[0].SA.Peer != addrB {
		t.Fatalf("SPI lapse: %+v", evs)
	}
}

func TestHoldBounds(t *testing.T) {
	cfg := Config{HoldPackets: 3, HoldBytes: 1 << 20, HoldTotalBytes: 1 << 20}
	cfg, _ = cfg.withDefaults()
	h := newHoldTable(&cfg)
	f := kernel.Flow{Src: addrA, Dst: addrB, Proto: protoUDP}
	now := time.Unix(0, 0)
	for i, want := range []holdResult{heldNew, heldMore, heldMore, holdFull} {
		if got := h.add(f, new(packetBuf), 100, now); got != want {
			t.Fatalf("packet %d: %v, want %v", i, got, want)
		}
	}
	g := f
	g.Dst = netip.MustParseAddr("192.0.2.9")
	if h.add(g, new(packetBuf), 1<<20, now) != holdFull {
		t.Fatal("total byte bound not enforced")
	}
	rel := h.take(func(x kernel.Flow) bool { return x == f })
	if len(rel) != 1 || len(rel[0].pkts) != 3 {
		t.Fatalf("take: %+v", rel)
	}
}

func TestInstallRejects(t *testing.T) {
	d := bareDevice()
	d.socks = testSockets()
	ctx := context.Background()
	spa, _ := testPairs(t, addrA, addrB, kernel.ModeTransport, kernel.AESGCM16, false)
	bad := spa
	bad.Out.Key = bad.Out.Key[:10]
	if err := d.InstallSA(ctx, bad); err == nil {
		t.Fatal("short key accepted")
	}
	bad = spa
	bad.In.SPI = 7
	if err := d.InstallSA(ctx, bad); err == nil {
		t.Fatal("reserved SPI accepted")
	}
	bad = spa
	bad.Out.Dst = addrB6
	if err := d.InstallSA(ctx, bad); err == nil {
		t.Fatal("mixed families accepted")
	}
	bad = spa
	bad.Mode = kernel.ModeUnset
	if err := d.InstallSA(ctx, bad); err == nil || !strings.Contains(err.Error(), "mode is") {
		t.Fatalf("pair with no mode: %v, want refused for its mode", err)
	}
	bad = spa
	bad.In.Src = netip.MustParseAddr("198.51.100.77")
	if err := d.InstallSA(ctx, bad); err == nil || !strings.Contains(err.Error(), "not the outbound SA") {
		t.Fatalf("inbound SA from another peer than the outbound one goes to: %v", err)
	}
	if err := d.InstallSA(ctx, spa); err != nil {
		t.Fatal(err)
	}
	dup := spa
	dup.Out.SPI++
	if err := d.InstallSA(ctx, dup); err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("second pair with the same inbound SPI: %v", err)
	}
	// The same pair again is an update of itself, not a clash.
	if err := d.InstallSA(ctx, spa); err != nil {
		t.Fatalf("reinstalling the same pair: %v", err)
	}
}
