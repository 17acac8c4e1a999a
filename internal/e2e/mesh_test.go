package e2e

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

const (
	lan = "198.18.0.0/16\n2001:db8::/32\n"
	// clearDNS is the DNS host's addresses: the mesh numbers it 53 on each
	// LAN, 0x35 in IPv6's last byte.
	clearDNS = "198.18.0.53\n2001:db8:1::35\n"
)

// responder and initiator are the usual policies of the mesh's hosts.
var (
	responder = lab.HostConfig{Policies: map[string]string{"clear-or-private": lan, "clear": clearDNS}}
	initiator = lab.HostConfig{Policies: map[string]string{"private-or-clear": lan, "clear": clearDNS}}
)

func start(t *testing.T, m *lab.Mesh, ctx context.Context, name string, hc lab.HostConfig) {
	t.Helper()
	if err := m.StartDaemon(ctx, name, hc); err != nil {
		t.Fatal(err)
	}
}

func capture(t *testing.T, m *lab.Mesh) *lab.Capture {
	t.Helper()
	c, err := lab.StartCapture(m.Sw)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	return c
}

var rttRE = regexp.MustCompile(`icmp_seq=1 .*time=([0-9.]+) ms`)

// firstRTT is the round-trip time of the first echo, from ping's output.
func firstRTT(out string) (time.Duration, bool) {
	m := rttRE.FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	ms, _ := strconv.ParseFloat(m[1], 64)
	return time.Duration(ms * float64(time.Millisecond)), true
}

// TestHostToHost: A (private-or-clear) to B (clear-or-private) is
// encrypted over IPv4 and IPv6, the first packet arrives, and only ESP
// crosses the wire.
func TestHostToHost(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "a", initiator)
	c := capture(t, m)
	a, b := m.Hosts["a"], m.Hosts["b"]
	for _, pair := range [][2]string{{a.Addr4.String(), b.Addr4.String()}, {a.Addr6.String(), b.Addr6.String()}} {
		from, to := a.Addr4, b.Addr4
		if strings.Contains(pair[0], ":") {
			from, to = a.Addr6, b.Addr6
		}
		c.Reset()
		r := m.Ping(ctx, "a", to, 5, 200*time.Millisecond)
		time.Sleep(100 * time.Millisecond)
		counts := c.Settled()
		if r.Received != 5 || !r.First {
			t.Errorf("ping a→b %s: %d/%d answered, first %v\n%s", to, r.Received, r.Sent, r.First, r.Output)
		}
		if n := counts.Between(from, to, lab.KindICMP); n != 0 {
			t.Errorf("%s: %d cleartext ICMP packets between a and b", to, n)
		}
		if n := counts.Between(from, to, lab.KindESP); n < 10 {
			t.Errorf("%s: %d ESP packets between a and b, want ≥ 10 (%v)", to, n, counts)
		}
	}
	out, _ := m.CLI(ctx, "a", "traffic")
	if !strings.Contains(out, "198.18.0.2") || !strings.Contains(out, "2001:db8:1::2") || !strings.Contains(out, "key") {
		t.Errorf("oemesh traffic on a:\n%s", out)
	}
	out, _ = m.CLI(ctx, "b", "traffic")
	if !strings.Contains(out, "198.18.0.1") {
		t.Errorf("oemesh traffic on b:\n%s", out)
	}
	out, err := m.CLI(ctx, "a", "dns", "cache")
	if err != nil || !strings.Contains(out, "2.0.18.198.in-addr.arpa.") || !strings.Contains(out, "EdDSA gw=198.18.0.2 SHA256:") {
		t.Errorf("oemesh dns cache on a: %v\n%s", err, out)
	}
	out, _ = m.CLI(ctx, "a", "status")
	for _, want := range []string{"data plane: userspace", "handshakes=2", "tunnels=2"} {
		if !strings.Contains(out, want) {
			t.Errorf("oemesh status on a lacks %q:\n%s", want, out)
		}
	}
}

// TestNoKeyGoesClearFast: D publishes no key; A's first packet to it goes
// out in the clear after one DNS round trip, well within 100 ms.
func TestNoKeyGoesClearFast(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, Extra: "oe:\n  null_auth: \"off\"\n"})
	c := capture(t, m)
	a, d := m.Hosts["a"], m.Hosts["d"]
	r := m.Ping(ctx, "a", d.Addr4, 3, 200*time.Millisecond)
	if r.Received != 3 || !r.First {
		t.Fatalf("ping a→d: %d/%d, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	rtt, ok := firstRTT(r.Output)
	if !ok || rtt > 100*time.Millisecond {
		t.Errorf("first packet to a host without a key took %v (want < 100 ms)\n%s", rtt, r.Output)
	}
	t.Logf("clear fallback: first echo answered after %v", rtt)
	if n := c.Settled().From(a.Addr4, d.Addr4, lab.KindICMP); n != 3 {
		t.Errorf("cleartext echo requests a→d: %d, want 3", n)
	}
	if ss, out := shunts(t, m, ctx, "a"); !hasShunt(ss, func(s control.ShuntStatus) bool {
		return s.Kind == control.ShuntPass && strings.Contains(s.Reason, "no key in DNS")
	}) {
		t.Errorf("oemesh shunts:\n%s", out)
	}
}

// TestPrivateDropsThenSucceeds: with D in A's private group, A→D is
// dropped and not one cleartext packet leaves A; once D publishes a key
// and runs oemeshd, the next attempt after the shunt and the negative
// cache expire is encrypted.
func TestPrivateDropsThenSucceeds(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{"a", "b", "c", "g"}})
	ctx := ctxT(t, 90*time.Second)
	hc := lab.HostConfig{
		Policies: map[string]string{"private-or-clear": lan, "clear": clearDNS, "private": "198.18.0.4\n"},
		Extra:    "oe:\n  null_auth: \"off\"\n  shunt_lifetime: 5s\n",
	}
	start(t, m, ctx, "a", hc)
	c := capture(t, m)
	a, d := m.Hosts["a"], m.Hosts["d"]
	r := m.Ping(ctx, "a", d.Addr4, 3, 200*time.Millisecond)
	if r.Received != 0 {
		t.Errorf("private group: %d echoes answered without a key\n%s", r.Received, r.Output)
	}
	if n := c.Settled().From(a.Addr4, d.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("private group leaked %d cleartext packets a→d", n)
	}
	if ss, out := shunts(t, m, ctx, "a"); !hasShunt(ss, func(s control.ShuntStatus) bool { return s.Kind == control.ShuntDrop }) {
		t.Errorf("oemesh shunts:\n%s", out)
	}

	// D gets a key and a daemon.
	if err := m.GiveKey("d"); err != nil {
		t.Fatal(err)
	}
	start(t, m, ctx, "d", responder)
	deadline := time.Now().Add(40 * time.Second)
	for {
		r = m.Ping(ctx, "a", d.Addr4, 1, 200*time.Millisecond)
		if r.Received == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a→d never came up after d published a key")
		}
		time.Sleep(500 * time.Millisecond)
	}
	c.Reset()
	m.Ping(ctx, "a", d.Addr4, 3, 100*time.Millisecond)
	counts := c.Settled()
	if counts.From(a.Addr4, d.Addr4, lab.KindICMP) != 0 || counts.From(a.Addr4, d.Addr4, lab.KindESP) < 3 {
		t.Errorf("after key publication a→d is not encrypted: %v", counts)
	}
}

// TestBlockClearAndMostSpecific: a /32 in block and a /32 in clear inside a
// private-or-clear /16 win over it.
func TestBlockClearAndMostSpecific(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "c", responder)
	start(t, m, ctx, "a", lab.HostConfig{Policies: map[string]string{
		"private-or-clear": lan, "clear": clearDNS + "198.18.0.2\n", "block": "198.18.0.3\n"}})
	c := capture(t, m)
	a, b, cc := m.Hosts["a"], m.Hosts["b"], m.Hosts["c"]
	if r := m.Ping(ctx, "a", b.Addr4, 3, 100*time.Millisecond); r.Received != 3 {
		t.Errorf("clear /32: %d/3 answered", r.Received)
	}
	if r := m.Ping(ctx, "a", cc.Addr4, 2, 100*time.Millisecond); r.Received != 0 {
		t.Errorf("block /32: %d answered", r.Received)
	}
	counts := c.Settled()
	if counts.From(a.Addr4, b.Addr4, lab.KindICMP) != 3 || counts.Between(a.Addr4, b.Addr4, lab.KindESP) != 0 {
		t.Errorf("clear group should go in the clear: %v", counts)
	}
	if counts.From(a.Addr4, cc.Addr4, lab.KindICMP)+counts.From(a.Addr4, cc.Addr4, lab.KindIKE) != 0 {
		t.Errorf("block group: packets left a for c: %v", counts)
	}
	if ex, out := explain(t, m, ctx, "a", "198.18.0.2"); ex.Group != control.GroupClear || !prefixIs(ex, "198.18.0.2/32") {
		t.Errorf("explain: %s", out)
	}
}

// TestGateway: E's record names G as its gateway; A reaches E through G in
// tunnel mode and the A–G segment carries only ESP.
func TestGateway(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	start(t, m, ctx, "g", lab.HostConfig{Policies: responder.Policies, Extra: "oe:\n  gateway_for: [198.18.1.0/24, \"2001:db8:2::/64\"]\n"})
	start(t, m, ctx, "a", initiator)
	c := capture(t, m)
	a, g, e := m.Hosts["a"], m.Hosts["g"], m.Hosts["e"]
	r := m.Ping(ctx, "a", e.Addr4, 4, 200*time.Millisecond)
	if r.Received != 4 || !r.First {
		t.Errorf("a→e via g: %d/4, first %v\n%s", r.Received, r.First, r.Output)
	}
	counts := c.Settled()
	if counts.From(a.Addr4, e.Addr4, lab.KindICMP) != 0 || counts.From(e.Addr4, a.Addr4, lab.KindICMP) != 0 {
		t.Errorf("cleartext a↔e on the LAN: %v", counts)
	}
	if counts.Between(a.Addr4, g.Addr4, lab.KindESP) < 8 {
		t.Errorf("ESP a↔g: %v", counts)
	}
	out, _ := m.CLI(ctx, "a", "traffic")
	if !strings.Contains(out, "tunnel") || !strings.Contains(out, "198.18.1.10") {
		t.Errorf("a's traffic:\n%s", out)
	}
}

// TestResponderRefuses: B puts A in its clear group, so A's attempt is
// refused and A falls back to its failure shunt (clear).
func TestResponderRefuses(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	start(t, m, ctx, "b", lab.HostConfig{Policies: map[string]string{"clear-or-private": lan, "clear": clearDNS + "198.18.0.1\n"}})
	start(t, m, ctx, "a", initiator)
	r := m.Ping(ctx, "a", m.Hosts["b"].Addr4, 3, 300*time.Millisecond)
	if r.Received < 2 {
		t.Errorf("after refusal a→b should fall back to clear: %d/3\n%s", r.Received, r.Output)
	}
	if ss, out := shunts(t, m, ctx, "a"); !hasShunt(ss, func(s control.ShuntStatus) bool { return s.Kind == control.ShuntPass }) {
		t.Errorf("a's shunts:\n%s", out)
	}
	out, _ := m.CLI(ctx, "b", "status", "--json")
	var st control.Status
	if err := decodeStrict([]byte(out), &st); err != nil || st.Counts["refused"] != 1 {
		t.Errorf("b's status does not count the refusal (%v):\n%s", err, out)
	}
}

// TestForgedKeyRefused: DNS publishes a wrong key for A; B cannot verify
// A's AUTH and refuses; A gets its failure shunt.
func TestForgedKeyRefused(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	if err := m.ReplaceKeyInDNS("a"); err != nil {
		t.Fatal(err)
	}
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "a", initiator)
	m.Ping(ctx, "a", m.Hosts["b"].Addr4, 2, 300*time.Millisecond)
	out, _ := m.CLI(ctx, "a", "traffic")
	if strings.Contains(out, "198.18.0.2") {
		t.Errorf("a tunnel came up with a forged key:\n%s", out)
	}
	if ss, out := shunts(t, m, ctx, "a"); !hasShunt(ss, func(s control.ShuntStatus) bool { return s.Dst == "198.18.0.2" || s.Src == "198.18.0.2" }) {
		t.Errorf("a has no failure shunt:\n%s", out)
	}
}

// TestLifecycle: SIGHUP reload, idle expiry with a Delete, and a SIGKILL
// restart that reconciles and renegotiates.
func TestLifecycle(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 120*time.Second)
	start(t, m, ctx, "b", responder)
	hc := lab.HostConfig{Policies: initiator.Policies, Extra: "oe:\n  idle_timeout: 3s\n"}
	start(t, m, ctx, "a", hc)
	b := m.Hosts["b"]
	if r := m.Ping(ctx, "a", b.Addr4, 2, 100*time.Millisecond); r.Received != 2 {
		t.Fatalf("a→b: %d/2", r.Received)
	}
	// Idle expiry: after 3 s without traffic both sides lose the SA.
	deadline := time.Now().Add(20 * time.Second)
	for {
		outA, _ := m.CLI(ctx, "a", "traffic")
		outB, _ := m.CLI(ctx, "b", "traffic")
		if strings.Contains(outA, "no SAs") && strings.Contains(outB, "no SAs") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle SA not deleted on both sides:\na:\n%s\nb:\n%s", outA, outB)
		}
		time.Sleep(300 * time.Millisecond)
	}

	// SIGKILL a, restart it: it reconciles its leftovers and traffic flows.
	if r := m.Ping(ctx, "a", b.Addr4, 1, 100*time.Millisecond); r.Received != 1 {
		t.Fatalf("a→b before kill: %+v", r)
	}
	m.StopDaemon("a", syscall.SIGKILL)
	start(t, m, ctx, "a", hc)
	c := capture(t, m)
	r := m.Ping(ctx, "a", b.Addr4, 3, 200*time.Millisecond)
	if r.Received != 3 {
		t.Errorf("after restart: %d/3\n%s", r.Received, r.Output)
	}
	if n := c.Settled().From(m.Hosts["a"].Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("after restart %d cleartext packets", n)
	}

	// SIGHUP: a moves b into its block group.
	if err := m.WritePolicies("a", map[string]string{"private-or-clear": lan, "clear": clearDNS, "block": "198.18.0.2\n"}); err != nil {
		t.Fatal(err)
	}
	m.Signal("a", syscall.SIGHUP)
	deadline = time.Now().Add(10 * time.Second)
	for {
		ex, out := explain(t, m, ctx, "a", "198.18.0.2")
		if ex.Group == control.GroupBlock {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := m.Ping(ctx, "a", b.Addr4, 2, 100*time.Millisecond); r.Received != 0 {
		t.Errorf("after reload to block: %d answered", r.Received)
	}
}
