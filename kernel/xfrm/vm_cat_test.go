package xfrm

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestVMCAT proves CAT on a kernel with ESP. A is the client: its data
// plane installs a tunnel pair whose local selector is the lease
// 100.64.0.1 (an address A does not have) and adds the CAT. B is the peer,
// keyed by hand with `ip xfrm` (as a server that leased 100.64.0.1 to A
// would be), with a route to the lease. A pings B from its own address
// and B pings the lease: all answered, only ESP leaves A, and B sees the
// inner source 100.64.0.1, never A's own address. Deleting the pair takes
// the CAT's policy and nftables table with it.
func TestVMCAT(t *testing.T) {
	needVM(t)
	needNft(t)
	p := netnstest.NewPair(t, "xcat")
	ctx := context.Background()
	leased := netip.MustParseAddr("100.64.0.1")
	c := CAT{Local: p.A4, Leased: leased, Peer: p.B4}
	da := open(t, p.A, Options{})
	kAB, kBA := deriveKey("cat a→b", 20), deriveKey("cat b→a", 20)
	const spiAB, spiBA = 0x6001, 0x6002
	pa := kernel.SAPair{
		Out:    kernel.SA{SPI: spiAB, Src: p.A4, Dst: p.B4, AEAD: kernel.AESGCM16, Key: kAB},
		In:     kernel.SA{SPI: spiBA, Src: p.B4, Dst: p.A4, AEAD: kernel.AESGCM16, Key: kBA},
		Mode:   kernel.ModeTunnel,
		Local:  []netip.Prefix{netip.PrefixFrom(leased, 32)},
		Remote: []netip.Prefix{netip.PrefixFrom(p.B4, 32)},
	}
	if err := da.InstallSA(ctx, pa); err != nil {
		t.Fatal(err)
	}
	if err := da.AddCAT(ctx, pa.ID(), c); err != nil {
		t.Fatal(err)
	}
	aead := func(k []byte) []string {
		return []string{"aead", "rfc4106(gcm(aes))", "0x" + hex.EncodeToString(k), "128"}
	}
	for _, args := range [][]string{
		append([]string{"xfrm", "state", "add", "src", p.A4.String(), "dst", p.B4.String(), "proto", "esp", "spi", fmt.Sprint(spiAB), "reqid", "77", "mode", "tunnel"}, aead(kAB)...),
		append([]string{"xfrm", "state", "add", "src", p.B4.String(), "dst", p.A4.String(), "proto", "esp", "spi", fmt.Sprint(spiBA), "reqid", "77", "mode", "tunnel"}, aead(kBA)...),
		{"xfrm", "policy", "add", "src", p.B4.String() + "/32", "dst", leased.String() + "/32", "dir", "out",
			"tmpl", "src", p.B4.String(), "dst", p.A4.String(), "proto", "esp", "reqid", "77", "mode", "tunnel"},
		{"xfrm", "policy", "add", "src", leased.String() + "/32", "dst", p.B4.String() + "/32", "dir", "in",
			"tmpl", "src", p.A4.String(), "dst", p.B4.String(), "proto", "esp", "reqid", "77", "mode", "tunnel"},
		{"route", "add", leased.String() + "/32", "dev", p.BDev},
	} {
		p.B.Run(t, "ip", args...)
	}

	captA := startCapture(t, p.A, p.ADev)
	captB := startCaptureDir(t, p.B, p.BDev, "in")
	for _, ping := range []struct {
		from *netnstest.NS
		dst  netip.Addr
	}{{p.A, p.B4}, {p.B, leased}} {
		out, err := ping.from.Command(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "3", ping.dst.String()).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "3 received") {
			t.Errorf("ping %s from %s through CAT: %v\n%s", ping.dst, ping.from.Name, err, out)
		}
	}
	linesA, linesB := captA.stop(), captB.stop()
	var esp int
	for _, l := range linesA {
		switch {
		case strings.Contains(l, "ESP(spi="):
			esp++
		case strings.Contains(l, "ICMP echo"):
			t.Errorf("cleartext ICMP leaving A: %s", l)
		}
	}
	if esp < 6 {
		t.Errorf("A sent %d ESP packets, want ≥6 (3 requests, 3 replies):\n%s", esp, strings.Join(linesA, "\n"))
	}
	// B's inbound capture shows the ESP and, after decapsulation, the inner packets.
	inner := func(kind string) int {
		return countLines(linesB, fmt.Sprintf("IP %s > %s: ICMP echo %s", leased, p.B4, kind))
	}
	if inner("request") < 3 || inner("reply") < 3 {
		t.Errorf("B saw %d echo requests and %d replies from %s inside ESP, want 3 each:\n%s", inner("request"), inner("reply"), leased, strings.Join(linesB, "\n"))
	}
	if n := countLines(linesB, fmt.Sprintf("IP %s > %s: ICMP", p.A4, p.B4)); n > 0 {
		t.Errorf("B saw %d ICMP packets from A's own address; CAT should have made them %s", n, leased)
	}
	cnt, err := da.SACounters(ctx, pa.ID())
	if err != nil {
		t.Fatal(err)
	}
	if cnt.OutPackets < 6 || cnt.InPackets < 6 {
		t.Errorf("A's SA counters: out %d, in %d; want ≥6 each", cnt.OutPackets, cnt.InPackets)
	}
	t.Logf("CAT: A sent %d ESP; A's SAs out %d in %d packets; B saw %d requests and %d replies from %s",
		esp, cnt.OutPackets, cnt.InPackets, inner("request"), inner("reply"), leased)

	if err := da.DeleteSA(ctx, pa.ID(), kernel.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if rs := p.A.Run(t, "nft", "list", "ruleset"); strings.Contains(rs, catTablePrefix) {
		t.Errorf("the CAT table outlived its flow:\n%s", rs)
	}
	if pol := p.A.Run(t, "ip", "xfrm", "policy"); strings.Contains(pol, "src "+p.A4.String()+"/32 dst "+p.B4.String()+"/32") {
		t.Errorf("the CAT policy outlived its flow:\n%s", pol)
	}
}

func countLines(lines []string, sub string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}
