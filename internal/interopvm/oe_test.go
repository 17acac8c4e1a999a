package interopvm

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

// TestInVMLibreswanNullOE: NULL-authenticated OE between Libreswan's
// oe-authnull.conf conns and oemeshd (null_auth: fallback, the default),
// in both directions, each started by a real packet hitting the
// initiator's trap policy.
func TestInVMLibreswanNullOE(t *testing.T) {
	in, files := needVM(t)
	t.Parallel()
	t.Run("libreswan-initiates", func(t *testing.T) {
		t.Parallel()
		st := newStages(t)
		b := newBed(t)
		d := startDNS(t, b.o)
		lsw := peers.StartLibreswan(t, in, b.l.NSName, peers.LibreswanConfig{
			Conns:    oeConns(),
			Policies: map[string][]string{"private-or-clear": {addrO.String() + "/32"}},
		})
		o := startOemeshd(t, files, b.o, d, filepath.Join(files, "rsa-hostkey.pem"),
			map[string]string{"clear-or-private": addrL.String() + "/32"}, "")
		checkXFRM(t, o)
		st.done("namespaces, pluto and oemeshd started")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		capt := startCapture(t, b)
		mark := lsw.Log.Mark()
		// The first packet hits pluto's trap (auto=route): the ACQUIRE starts IKE.
		_, _ = ping(ctx, b.l, addrO, 1)
		if _, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`initiator established IKE SA; authenticated peer using authby=null and ID_NULL`)); err != nil {
			t.Fatalf("pluto did not establish a NULL-authenticated IKE SA with oemeshd: %v", err)
		}
		cr, err := lsw.WaitChild(ctx, mark, addrO.String())
		if err != nil {
			t.Fatal(err)
		}
		if cr.Outcome != peers.ChildEstablished {
			t.Fatalf("pluto's CHILD SA with oemeshd: %v %s %v; want established", cr.Outcome, cr.Notify, cr.Lines)
		}
		st.done("IKE and CHILD SAs up")
		tn := o.WaitTunnel(ctx, addrL)
		if tn.Initiator || tn.Auth != control.AuthNull || tn.PeerID != "" {
			t.Errorf("oemeshd's tunnel: %+v; want a responder's NULL-authenticated (anonymous) pair", tn)
		}
		proveESP(t, ctx, b, capt, lsw, o)
		st.done("traffic proved")
	})
	t.Run("oemeshd-initiates", func(t *testing.T) {
		t.Parallel()
		st := newStages(t)
		b := newBed(t)
		d := startDNS(t, b.o) // no record for Libreswan's address: NXDOMAIN, NULL fallback
		lsw := peers.StartLibreswan(t, in, b.l.NSName, peers.LibreswanConfig{
			Conns:    oeConns(),
			Policies: map[string][]string{"clear-or-private": {addrO.String() + "/32"}},
		})
		o := startOemeshd(t, files, b.o, d, filepath.Join(files, "rsa-hostkey.pem"),
			map[string]string{"private-or-clear": addrL.String() + "/32"}, "oe:\n  null_auth: fallback\n")
		checkXFRM(t, o)
		st.done("namespaces, pluto and oemeshd started")
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		capt := startCapture(t, b)
		mark := lsw.Log.Mark()
		// The first packet hits oemeshd's trap: no key in DNS, so NULL OE.
		_, _ = ping(ctx, b.o, addrL, 1)
		if _, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`responder established IKE SA; authenticated peer using authby=null and ID_NULL`)); err != nil {
			t.Fatalf("pluto did not accept oemeshd's NULL-authenticated IKE SA: %v", err)
		}
		cr, err := lsw.WaitChild(ctx, mark, addrO.String())
		if err != nil {
			t.Fatal(err)
		}
		if cr.Outcome != peers.ChildEstablished {
			t.Fatalf("pluto's CHILD SA with oemeshd: %v %s %v; want established", cr.Outcome, cr.Notify, cr.Lines)
		}
		st.done("IKE and CHILD SAs up")
		tn := o.WaitTunnel(ctx, addrL)
		if !tn.Initiator || tn.Auth != control.AuthNull {
			t.Errorf("oemeshd's tunnel: %+v; want an initiator's NULL-authenticated pair", tn)
		}
		proveESP(t, ctx, b, capt, lsw, o)
		st.done("traffic proved")
	})
}

// TestInVMLibreswanDNSSECRSA: Libreswan's DNSSEC OE client
// (oe-dnssec-client.conf: leftauth=null, rightauth=rsasig,
// rightrsasigkey=%dnsondemand, dnssec-enable=yes) takes oemeshd's RSA-3072
// key from a DNSSEC-signed IPSECKEY record (`oemesh showhostkey
// --ipseckey`, zone signed with ldns-signzone, served by nsd, the zone's DS
// as pluto's trust anchor) and verifies oemeshd's signature; oemeshd
// answers the NULL initiator with its key (asymmetric OE). The control:
// with another RSA key published for oemeshd's address, pluto must refuse
// oemeshd's signature.
func TestInVMLibreswanDNSSECRSA(t *testing.T) {
	in, files := needVM(t)
	t.Parallel()
	t.Run("published-key", func(t *testing.T) {
		t.Parallel()
		dnssecCase(t, in, files, "rsa-hostkey.pem")
	})
	t.Run("other-key-in-dns", func(t *testing.T) {
		t.Parallel()
		dnssecCase(t, in, files, "rsa-other.pem")
	})
}

// dnssecCase runs oemeshd with rsa-hostkey.pem while the signed zone
// publishes published's key for oemeshd's address.
func dnssecCase(t *testing.T, in *peers.Install, files, published string) {
	st := newStages(t)
	b := newBed(t)
	d := startDNS(t, b.o)
	tmp := t.TempDir()
	hostKey, pubKey := filepath.Join(tmp, "rsa-hostkey.pem"), filepath.Join(tmp, "published.pem")
	copyKey(t, filepath.Join(files, "rsa-hostkey.pem"), hostKey)
	copyKey(t, filepath.Join(files, published), pubKey)
	rec, err := b.o.Command(context.Background(), filepath.Join(files, "oemesh"), "showhostkey", "--ipseckey",
		"--hostkey", pubKey, "--id", addrO.String(), "--ttl", "300").CombinedOutput()
	if err != nil {
		t.Fatalf("oemesh showhostkey --ipseckey: %v\n%s", err, rec)
	}
	if !strings.Contains(string(rec), "IPSECKEY\t10 0 2 . ") {
		t.Fatalf("oemesh showhostkey --ipseckey: want an RSA (algorithm 2) record without gateway:\n%s", rec)
	}
	ds := peers.ServeSignedZone(t, in, b.l.NSName, "0.18.198.in-addr.arpa",
		"2 IN PTR o.oe.test.\n"+strings.TrimSpace(string(rec))+"\n")
	o := startOemeshd(t, files, b.o, d, hostKey, map[string]string{"clear-or-private": addrL.String() + "/32"}, "")
	checkXFRM(t, o)
	st.done("namespaces, signed zone and oemeshd started")
	lsw := peers.StartLibreswan(t, in, b.l.NSName, peers.LibreswanConfig{
		Nameserver: "127.0.0.1", DNSSEC: true, TrustAnchor: ds,
		Conns: []peers.LibreswanConn{{
			Name: "private-or-clear", Left: addrL.String(), LeftID: "%null", LeftAuth: "null",
			Right: "%opportunisticgroup", RightAuth: "rsasig", RightRSASigKey: "%dnsondemand",
			NegotiationShunt: "hold", FailureShunt: "passthrough", Type: "tunnel", IKEv2: "insist", Auto: "route",
			KeyingTries: 1, RetransmitTimeout: 10 * time.Second,
		}},
		Policies: map[string][]string{"private-or-clear": {addrO.String() + "/32"}},
	})
	st.done("pluto started")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	capt := startCapture(t, b)
	mark := lsw.Log.Mark()
	_, _ = ping(ctx, b.l, addrO, 1)
	established := regexp.MustCompile(`initiator established IKE SA; authenticated peer '3072-bit RSASSA-PSS with SHA2_\d+' digital signature using preloaded certificate '198\.18\.0\.2'`)
	if published != "rsa-hostkey.pem" {
		line, err := lsw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`authentication failed|no certificate matched`))
		if err != nil {
			t.Fatalf("pluto did not refuse oemeshd's signature made with a key other than the published one: %v", err)
		}
		t.Log(line)
		if l := lsw.Log.LinesFrom(mark, established); len(l) > 0 {
			t.Fatalf("pluto authenticated oemeshd with a key DNS does not publish: %s", l[0])
		}
		return
	}
	line, err := lsw.Log.WaitFrom(ctx, mark, established)
	if err != nil {
		t.Fatalf("pluto did not authenticate oemeshd's RSA signature with the key from DNSSEC: %v", err)
	}
	t.Log(line)
	// The key can only have come from DNS: pluto has no other for 198.18.0.2.
	if l := lsw.Log.LinesFrom(mark, regexp.MustCompile(`start IKEv2 DNS query -- 2\.0\.18\.198\.IN-ADDR\.ARPA\. IN IPSECKEY`)); len(l) == 0 {
		t.Error("pluto's log lacks its IPSECKEY query for oemeshd's reverse name")
	}
	cr, err := lsw.WaitChild(ctx, mark, addrO.String())
	if err != nil {
		t.Fatal(err)
	}
	if cr.Outcome != peers.ChildEstablished {
		t.Fatalf("pluto's CHILD SA with oemeshd: %v %s %v; want established", cr.Outcome, cr.Notify, cr.Lines)
	}
	st.done("IKE and CHILD SAs up")
	tn := o.WaitTunnel(ctx, addrL)
	if tn.Initiator || tn.Auth != control.AuthNull || tn.PeerID != "" {
		t.Errorf("oemeshd's tunnel: %+v; want a responder's pair with an anonymous peer", tn)
	}
	proveESP(t, ctx, b, capt, lsw, o)
	st.done("traffic proved")
}

// startDNS serves the lab's DNS (no records: every IPSECKEY lookup is
// NXDOMAIN) on 127.0.0.1 in node, for oemeshd.
func startDNS(t *testing.T, node *lab.Node) netip.AddrPort {
	t.Helper()
	s := lab.NewDNSServer(2)
	ap, err := s.Start(node, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return ap
}

// checkXFRM: in the VM, dataplane auto must have chosen the kernel.
func checkXFRM(t *testing.T, o *oemeshd) {
	t.Helper()
	st := o.Status(context.Background())
	if st.Dataplane != "xfrm" {
		t.Fatalf("oemeshd chose data plane %q (%s); want xfrm on a kernel with ESP", st.Dataplane, st.Why)
	}
}

// proveESP pings both ways with the SAs up and checks every echo is
// answered, the SA byte counters moved on both ends, and the switch saw
// ESP between the hosts and no cleartext ICMP, from before the packet that
// started the negotiation (capt) until the end.
func proveESP(t *testing.T, ctx context.Context, b *bed, capt *lab.Capture, lsw *peers.Libreswan, o *oemeshd) {
	t.Helper()
	proveESPTo(t, ctx, b, capt, lsw, o, addrL, lab.KindESP)
}

// proveESPTo is proveESP with oemeshd's host pinging oTarget (Libreswan's
// leased address under certificate OE, where only it is in the SAs), and
// the outer packets of kind esp (ESP, or ESP-in-UDP behind a NAT). No
// cleartext ICMP may cross the switch between any two addresses.
func proveESPTo(t *testing.T, ctx context.Context, b *bed, capt *lab.Capture, lsw *peers.Libreswan, o *oemeshd, oTarget netip.Addr, espKind lab.Kind) {
	t.Helper()
	proveESPPings(t, ctx, b, capt, lsw, o, []pingTo{{b.l, addrO}, {b.o, oTarget}}, espKind)
}

// pingTo is one direction of proveESPPings: pings from a node to dst.
type pingTo struct {
	from *lab.Node
	dst  netip.Addr
}

// proveESPPings is proveESPTo with the pings given: where an address is
// leased to oemeshd (certificate OE client), Libreswan pings the lease.
func proveESPPings(t *testing.T, ctx context.Context, b *bed, capt *lab.Capture, lsw *peers.Libreswan, o *oemeshd, pings []pingTo, espKind lab.Kind) {
	t.Helper()
	before := o.WaitTunnel(ctx, addrL)
	lswBefore := lswTraffic(t, ctx, lsw)
	const n = 5
	for _, dir := range pings {
		if got, out := ping(ctx, dir.from, dir.dst, n); got != n {
			t.Errorf("ping %s from %s: %d of %d answered\n%s", dir.dst, dir.from.Name, got, n, out)
		}
	}
	counts := capt.Stop()
	esp, clear := counts.Between(addrL, addrO, espKind), 0
	for _, kinds := range counts {
		clear += kinds[lab.KindICMP]
	}
	t.Logf("capture between %s and %s: %d ESP, %d ESP-in-UDP, %d IKE; %d cleartext ICMP on the switch", addrL, addrO,
		counts.BareESP(addrL, addrO), counts.Between(addrL, addrO, lab.KindESPinUDP), counts.Between(addrL, addrO, lab.KindIKE), clear)
	if esp < 4*n {
		t.Errorf("capture: %d %v packets between the hosts; want at least %d (%d echoes and replies each way)", esp, espKind, 4*n, n)
	}
	if clear != 0 {
		t.Errorf("capture: %d cleartext ICMP packets on the switch; want 0 (%v)", clear, counts)
	}
	after := o.WaitTunnel(ctx, addrL)
	t.Logf("oemeshd: %s, SPIs in/out %s/%s, bytes in %d→%d, out %d→%d", after.Auth, after.SPIIn, after.SPIOut,
		before.InBytes, after.InBytes, before.OutBytes, after.OutBytes)
	if after.InBytes <= before.InBytes || after.OutBytes <= before.OutBytes {
		t.Errorf("oemeshd's SA counters did not move: before %+v, after %+v", before, after)
	}
	lswAfter := lswTraffic(t, ctx, lsw)
	t.Logf("pluto: %+v → %+v", lswBefore, lswAfter)
	if lswAfter.InBytes <= lswBefore.InBytes || lswAfter.OutBytes <= lswBefore.OutBytes {
		t.Errorf("pluto's SA counters did not move: before %+v, after %+v", lswBefore, lswAfter)
	}
	// The same SAs on both ends: oemeshd's SPIs are in pluto's kernel.
	lx, err := b.l.Command(ctx, "ip", "xfrm", "state").CombinedOutput()
	if err != nil {
		t.Fatalf("ip xfrm state on Libreswan's host: %v\n%s", err, lx)
	}
	for _, spi := range []string{after.SPIIn, after.SPIOut} {
		v, err := strconv.ParseUint(strings.TrimPrefix(spi, "0x"), 16, 32)
		if err != nil || !strings.Contains(string(lx), fmt.Sprintf("spi 0x%08x ", v)) {
			t.Errorf("oemeshd's SPI %s is not in Libreswan's kernel (%v):\n%s", spi, err, lx)
		}
	}
	if out, err := b.o.Command(ctx, "ip", "-s", "xfrm", "state").CombinedOutput(); err == nil {
		t.Logf("oemeshd's host, ip -s xfrm state:\n%s", out)
	}
}

// lswTraffic is pluto's one CHILD SA with oemeshd (whack --trafficstatus).
func lswTraffic(t *testing.T, ctx context.Context, lsw *peers.Libreswan) peers.LibreswanTraffic {
	t.Helper()
	ts, err := lsw.TrafficStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range ts {
		if tr.Peer == addrO.String() {
			return tr
		}
	}
	t.Fatalf("pluto's trafficstatus has no SA with %s: %+v", addrO, ts)
	return peers.LibreswanTraffic{}
}

// stages logs how long each step of a case took (under TCG every process
// start is slow: this shows where a run's time goes).
type stages struct {
	t    *testing.T
	last time.Time
}

func newStages(t *testing.T) *stages { return &stages{t: t, last: time.Now()} }

func (s *stages) done(what string) {
	s.t.Helper()
	now := time.Now()
	s.t.Logf("%s in %v", what, now.Sub(s.last).Round(10*time.Millisecond))
	s.last = now
}

// oeConns are Libreswan's oe-authnull.conf conns for Libreswan's host, with
// the private-or-clear retransmit timeout raised from 2 s to 10 s: under
// TCG, with other tests sharing the CPUs, a responder can take longer than
// 2 s, and pluto (keyingtries=1) would then give up for good.
func oeConns() []peers.LibreswanConn {
	cs := peers.OEConns(addrL.String())
	for i := range cs {
		if cs[i].RetransmitTimeout > 0 {
			cs[i].RetransmitTimeout = 10 * time.Second
		}
	}
	return cs
}

// startCapture counts packets on the switch until the test ends or
// proveESP stops it.
func startCapture(t *testing.T, b *bed) *lab.Capture {
	t.Helper()
	c, err := lab.StartCapture(b.sw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}
