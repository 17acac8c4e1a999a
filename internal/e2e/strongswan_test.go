package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

// TestStrongSwanConfiguredPeer: strongSwan on host b is a configured-key
// peer (swanctl conn for a with a's raw Ed25519 key) whose own key is
// published as b's IPSECKEY in the test DNS. A ping from a to b is trapped
// by a's private-or-clear group; oemeshd finds b's key in DNS, brings up
// IKE and a CHILD SA with strongSwan, and the pings are answered through
// ESP-in-UDP (strongSwan's kernel-libipsec always encapsulates, and does
// tunnel mode only: oemeshd's transport-mode proposal is taken in tunnel
// mode).
func TestStrongSwanConfiguredPeer(t *testing.T) {
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
	ctx := ctxT(t, 90*time.Second)
	start(t, m, ctx, "a", lab.HostConfig{Policies: map[string]string{"private-or-clear": b.Addr4.String() + "/32\n", "clear": clearDNS}})
	c := capture(t, m)

	mark := ssw.Log.Mark()
	r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts := c.Snapshot()
	t.Logf("on the LAN: %v", counts)
	if r.Received != 5 || !r.First {
		t.Errorf("ping a→b: %d/%d answered\n%s", r.Received, r.Sent, r.Output)
	}
	if line, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`authentication of '198\.18\.0\.1' with ED25519 successful`)); err != nil {
		t.Errorf("strongSwan did not authenticate oemeshd: %v", err)
	} else {
		t.Logf("strongSwan: %s", line)
	}
	// oemeshd asks for transport mode; strongSwan's conn is tunnel mode
	// (all kernel-libipsec can do) and it answers without
	// USE_TRANSPORT_MODE, which RFC 7296 §1.3.1 makes a tunnel-mode SA.
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
	re := regexp.MustCompile(`CHILD_SA host\{\d+\} established .*TS 198\.18\.0\.2/32 === 198\.18\.0\.1/32`)
	if line, err := ssw.Log.WaitFrom(ctx, mark, re); err != nil {
		t.Errorf("strongSwan did not install the CHILD SA: %v\n%s", err, ssw.Log)
	} else {
		t.Logf("strongSwan: %s", line)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("%d cleartext ICMP packets between a and b", n)
	}
	if n := counts.From(a.Addr4, b.Addr4, lab.KindESPinUDP); n < 5 {
		t.Errorf("%d ESP-in-UDP packets from a to b, want ≥ 5", n)
	}
	if n := counts.From(b.Addr4, a.Addr4, lab.KindESPinUDP); n < 5 {
		t.Errorf("%d ESP-in-UDP packets from b to a, want ≥ 5", n)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n != 0 {
		t.Errorf("%d bare ESP packets between a and b; kernel-libipsec only takes ESP-in-UDP", n)
	}
	out, err := m.CLI(ctx, "a", "traffic", "--json")
	if err != nil || !strings.Contains(out, `"peer": "198.18.0.2"`) || !strings.Contains(out, `"auth": "key"`) || !strings.Contains(out, `"mode": "tunnel"`) {
		t.Errorf("oemesh traffic on a: %v\n%s", err, out)
	}
	out, err = m.CLI(ctx, "a", "peers")
	if fp := dnskey.Fingerprint(b.Key.Public()); err != nil || !strings.Contains(out, "2.0.18.198.in-addr.arpa.") || !strings.Contains(out, fp) {
		t.Errorf("oemesh peers on a (b's key from DNS): %v\n%s", err, out)
	}
}
