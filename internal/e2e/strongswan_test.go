package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

// strongSwanMesh runs strongSwan (kernel-libipsec) on host b as a
// configured-key peer of a: its swanctl conn names a's address and raw
// Ed25519 key, and its own key is b's key, which the mesh publishes as
// b's IPSECKEY. a runs oemeshd with b in its private-or-clear group.
func strongSwanMesh(t *testing.T, ctx context.Context) (*lab.Mesh, *peers.StrongSwan) {
	t.Helper()
	in := peers.Require(t)
	m := newMesh(t, lab.MeshOptions{Keyed: []string{"a", "b"}})
	a, b := m.Hosts["a"], m.Hosts["b"]
	ssw := peers.StartStrongSwan(t, in, b.Node.NSName, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{{
		Name: "oemesh", LocalAddrs: []string{b.Addr4.String()}, RemoteAddrs: []string{a.Addr4.String()},
		Local:  peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: b.Addr4.String(), Key: b.Key},
		Remote: peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: a.Addr4.String(), PublicKey: a.Key.Public()},
		Children: []peers.StrongSwanChild{{Name: "host",
			LocalTS: []string{b.Addr4.String() + "/32"}, RemoteTS: []string{a.Addr4.String() + "/32"}}},
	}}})
	start(t, m, ctx, "a", lab.HostConfig{Policies: map[string]string{"private-or-clear": b.Addr4.String() + "/32\n", "clear": clearDNS}})
	return m, ssw
}

// checkStrongSwanChild checks strongSwan's view of the SAs with a: IKE up,
// the CHILD SA installed in tunnel mode and UDP-encapsulated, with a's and
// b's addresses as selectors.
func checkStrongSwanChild(t *testing.T, ctx context.Context, ssw *peers.StrongSwan) {
	t.Helper()
	sa, err := ssw.WaitEstablished(ctx, "oemesh", "host")
	if err != nil {
		t.Fatalf("strongSwan: %v", err)
	}
	c, _ := sa.Child("host")
	if c.Mode != "TUNNEL" || !c.Encap || strings.Join(c.LocalTS, ",") != "198.18.0.2/32" || strings.Join(c.RemoteTS, ",") != "198.18.0.1/32" {
		t.Errorf("strongSwan's CHILD SA: mode %s encap %v TS %v === %v; want TUNNEL, encapsulated, 198.18.0.2/32 === 198.18.0.1/32",
			c.Mode, c.Encap, c.LocalTS, c.RemoteTS)
	}
	if sa.RemoteID != "198.18.0.1" {
		t.Errorf("strongSwan authenticated %q, want a's address ID", sa.RemoteID)
	}
}

// checkEncrypted checks the LAN between a and b: ESP-in-UDP both ways, no
// cleartext ICMP and no bare ESP (kernel-libipsec takes only ESP-in-UDP).
func checkEncrypted(t *testing.T, counts lab.Counts, a, b *lab.MeshHost, n int) {
	t.Helper()
	t.Logf("on the LAN: %v", counts)
	if k := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); k != 0 {
		t.Errorf("%d cleartext ICMP packets between a and b", k)
	}
	if k := counts.From(a.Addr4, b.Addr4, lab.KindESPinUDP); k < n {
		t.Errorf("%d ESP-in-UDP packets from a to b, want ≥ %d", k, n)
	}
	if k := counts.From(b.Addr4, a.Addr4, lab.KindESPinUDP); k < n {
		t.Errorf("%d ESP-in-UDP packets from b to a, want ≥ %d", k, n)
	}
	if k := counts.BareESP(a.Addr4, b.Addr4); k != 0 {
		t.Errorf("%d bare ESP packets between a and b", k)
	}
}

// TestStrongSwanConfiguredPeer: a ping from a to strongSwan's host b is
// trapped by a's private-or-clear group; oemeshd finds b's key in DNS,
// negotiates IKE and a CHILD SA with strongSwan, and the pings, the first
// included, are answered through ESP-in-UDP. oemeshd asks for transport
// mode; strongSwan's conn is tunnel mode (all kernel-libipsec can do) and
// it answers without USE_TRANSPORT_MODE, which makes the CHILD SA a
// tunnel-mode SA with host selectors (RFC 7296 §1.3.1) on both ends.
func TestStrongSwanConfiguredPeer(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	m, ssw := strongSwanMesh(t, ctx)
	a, b := m.Hosts["a"], m.Hosts["b"]
	c := capture(t, m)

	mark := ssw.Log.Mark()
	r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if r.Received != 5 || !r.First {
		t.Errorf("ping a→b: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	checkEncrypted(t, c.Settled(), a, b, 5)
	if line, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`authentication of '198\.18\.0\.1' with ED25519 successful`)); err != nil {
		t.Errorf("strongSwan did not authenticate oemeshd: %v", err)
	} else {
		t.Logf("strongSwan: %s", line)
	}
	if line, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`parsed IKE_AUTH request 1 \[.*N\(USE_TRANSP\)`)); err != nil {
		t.Errorf("oemeshd did not ask for transport mode: %v", err)
	} else {
		t.Logf("strongSwan: %s", line)
	}
	if line, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`generating IKE_AUTH response 1 \[.*\]`)); err != nil {
		t.Errorf("strongSwan sent no IKE_AUTH response: %v", err)
	} else if strings.Contains(line, "USE_TRANSP") {
		t.Errorf("strongSwan accepted transport mode, which kernel-libipsec cannot do: %s", line)
	} else {
		t.Logf("strongSwan: %s", line)
	}
	checkStrongSwanChild(t, ctx, ssw)

	if ts, out := traffic(t, m, ctx, "a"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == "198.18.0.2" && tn.Auth == control.AuthKey && tn.Mode == control.ModeTunnel && tn.Initiator
	}) {
		t.Errorf("oemesh traffic on a:\n%s", out)
	}
	out, err := m.CLI(ctx, "a", "dns", "cache")
	if fp := dnskey.Fingerprint(b.Key.Public()); err != nil || !strings.Contains(out, "2.0.18.198.in-addr.arpa.") || !strings.Contains(out, fp) {
		t.Errorf("oemesh dns cache on a (b's key from DNS, %s): %v\n%s", fp, err, out)
	}
}

// TestStrongSwanInitiatesToOE: strongSwan initiates its conn to a; a's
// oemeshd answers as an OE responder, authenticating strongSwan with the
// key that DNS publishes for b's ID (b is in a's private-or-clear group),
// and pings from b's side are answered through ESP-in-UDP.
func TestStrongSwanInitiatesToOE(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	m, ssw := strongSwanMesh(t, ctx)
	a, b := m.Hosts["a"], m.Hosts["b"]
	c := capture(t, m)
	if lines, err := ssw.Initiate(ctx, "oemesh", "host"); err != nil {
		t.Fatalf("strongSwan initiate: %v\n%s\n--- oemeshd log of a:\n%s", err, strings.Join(lines, "\n"), tail(m.Log("a"), 40))
	}
	checkStrongSwanChild(t, ctx, ssw)
	r := m.Ping(ctx, "b", a.Addr4, 5, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if r.Received != 5 {
		t.Errorf("ping b→a: %d/%d answered\n%s", r.Received, r.Sent, r.Output)
	}
	checkEncrypted(t, c.Settled(), a, b, 5)
	if ts, out := traffic(t, m, ctx, "a"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == "198.18.0.2" && tn.Auth == control.AuthKey && tn.Mode == control.ModeTunnel && !tn.Initiator
	}) {
		t.Errorf("oemesh traffic on a:\n%s", out)
	}
	out, err := m.CLI(ctx, "a", "dns", "cache")
	if fp := dnskey.Fingerprint(b.Key.Public()); err != nil || !strings.Contains(out, fp) {
		t.Errorf("oemesh dns cache on a (b's key from DNS, %s): %v\n%s", fp, err, out)
	}
}

// TestStrongSwanKeyNotInDNS: DNS publishes another key for b than the one
// strongSwan signs with; oemeshd cannot verify strongSwan's AUTH, sets up
// no tunnel, and takes its private-or-clear failure shunt for b.
func TestStrongSwanKeyNotInDNS(t *testing.T) {
	ctx := ctxT(t, 90*time.Second)
	m, ssw := strongSwanMesh(t, ctx)
	if err := m.ReplaceKeyInDNS("b"); err != nil {
		t.Fatal(err)
	}
	mark := ssw.Log.Mark()
	m.Ping(ctx, "a", m.Hosts["b"].Addr4, 2, 300*time.Millisecond)
	if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`authentication of '198\.18\.0\.1' with ED25519 successful`)); err != nil {
		t.Errorf("strongSwan did not authenticate oemeshd (its key is right): %v", err)
	}
	out, _ := m.CLI(ctx, "a", "traffic")
	if strings.Contains(out, "198.18.0.2") {
		t.Errorf("a's tunnel to strongSwan came up with a key DNS does not publish:\n%s", out)
	}
	if ss, out := shunts(t, m, ctx, "a"); !hasShunt(ss, func(s control.ShuntStatus) bool {
		return (s.Dst == "198.18.0.2" || s.Src == "198.18.0.2") && s.Kind == control.ShuntPass
	}) {
		t.Errorf("a has no pass failure shunt for b:\n%s", out)
	}
}
