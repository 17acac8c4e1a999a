package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// natHost adds to the mesh a router r on the LAN (198.18.0.9) and a host
// n behind it (198.18.3.10 on r's inside link), which r masquerades as
// its own LAN address. n publishes an Ed25519 key at the reverse name of
// its inside address, the ID it uses. It returns n and r's LAN address.
func natHost(t *testing.T, m *lab.Mesh) (*lab.MeshHost, netip.Addr) {
	t.Helper()
	h, public := natRouted(t, m)
	if err := m.Publish("n", h.Addr4, h.Addr4, h.Key.Public()); err != nil {
		t.Fatal(err)
	}
	return h, public
}

// natRouted adds the router r and the host n behind it as natHost does,
// with a host key for n that is published nowhere. It returns n and r's
// LAN address.
func natRouted(t *testing.T, m *lab.Mesh) (*lab.MeshHost, netip.Addr) {
	t.Helper()
	public := netip.MustParseAddr("198.18.0.9")
	inside := netip.MustParseAddr("198.18.3.10")
	r, err := m.Lab.AddHost("r")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Lab.Connect(r, m.Sw, "eth0", "198.18.0.9/24"); err != nil {
		t.Fatal(err)
	}
	nn, err := m.Lab.AddHost("n")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Lab.Link(r, "eth1", []string{"198.18.3.1/24"}, nn, "eth0", []string{"198.18.3.10/24"}); err != nil {
		t.Fatal(err)
	}
	if err := nn.Route("0.0.0.0/0", "198.18.3.1"); err != nil {
		t.Fatal(err)
	}
	if err := r.Sysctl("net/ipv4/ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t, 10*time.Second)
	if out, err := r.Command(ctx, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE").CombinedOutput(); err != nil {
		t.Fatalf("iptables MASQUERADE in %s: %v\n%s", r.NSName, err, out)
	}
	key, err := dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "n")
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := dnskey.WriteHostKey(filepath.Join(dir, "hostkey.pem"), key, true); err != nil {
		t.Fatal(err)
	}
	h := &lab.MeshHost{Name: "n", Node: nn, Addr4: inside, Key: key, Dir: dir, Socket: filepath.Join(dir, "oemeshd.sock")}
	m.Hosts["n"] = h
	return h, public
}

// TestNATTraversal: host n behind a masquerading router reaches B by OE.
// IKE detects the NAT and moves to port 4500, the CHILD SA is
// UDP-encapsulated, and the userspace data planes on both ends carry
// ESP-in-UDP through their daemons' NAT-T sockets: pings are answered and
// the wire between the router and B carries ESP-in-UDP on 4500 and no
// cleartext ICMP.
func TestNATTraversal(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{"b"}})
	n, public := natHost(t, m)
	ctx := ctxT(t, 90*time.Second)
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "n", lab.HostConfig{Policies: map[string]string{"private-or-clear": "198.18.0.2/32\n", "clear": clearDNS}})
	c := capture(t, m)
	b := m.Hosts["b"]

	r := m.Ping(ctx, "n", b.Addr4, 5, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts := c.Settled()
	if r.Received != 5 || !r.First {
		t.Errorf("ping n→b: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	t.Logf("on the LAN: %v", counts)
	if k := counts.Between(public, b.Addr4, lab.KindICMP); k != 0 {
		t.Errorf("%d cleartext ICMP packets between the router and b", k)
	}
	if k := counts.BareESP(public, b.Addr4); k != 0 {
		t.Errorf("%d bare ESP packets between the router and b; NAT-T should encapsulate them", k)
	}
	if k := counts.From(public, b.Addr4, lab.KindESPinUDP); k < 5 {
		t.Errorf("%d ESP-in-UDP packets from the router to b, want ≥ 5", k)
	}
	if k := counts.From(b.Addr4, public, lab.KindESPinUDP); k < 5 {
		t.Errorf("%d ESP-in-UDP packets from b to the router, want ≥ 5", k)
	}
	if k := counts.Between(n.Addr4, b.Addr4, lab.KindICMP) + counts.Between(n.Addr4, b.Addr4, lab.KindESPinUDP); k != 0 {
		t.Errorf("%d packets with n's inside address crossed the router", k)
	}
	// B sees n as the router's address with n's own ID.
	if ts, out := traffic(t, m, ctx, "b"); !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == "198.18.0.9" && tn.PeerID == "198.18.3.10" && tn.Auth == control.AuthKey
	}) {
		t.Errorf("oemesh traffic on b:\n%s", out)
	}
	// B answers n's next pings through the NAT mapping too.
	if r := m.Ping(ctx, "n", b.Addr4, 3, 100*time.Millisecond); r.Received != 3 {
		t.Errorf("second ping n→b: %d/%d answered\n%s", r.Received, r.Sent, r.Output)
	}
}
