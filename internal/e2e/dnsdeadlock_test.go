package e2e

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestDNSDeadlock: a's resolver (198.18.0.53) lies inside a's
// private-or-clear range, and nobody listed it in clear. oemeshd exempts
// it (dns.exempt_servers, the default): the first echo to b is answered
// over ESP, a's key look-ups cross the wire as clear UDP to port 53, and
// there is no IKE or ESP with the resolver and no failure shunt. With the
// exemption off, the same mesh fails the way issue 16 describes: a's
// look-up of b's key goes to the resolver, hits the trap, and starts a
// negotiation with the resolver that needs a look-up itself; DNS times
// out, IKE goes to the resolver, and b's flow gets the pass shunt, in the
// clear. The second case proves the exemption is what makes the first
// one work.
func TestDNSDeadlock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		dataplane string
		exempt    bool
	}{
		{"userspace", "userspace", true},
		{"userspace-without-exemption", "userspace", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMesh(t, lab.MeshOptions{})
			ctx := ctxT(t, 90*time.Second)
			a, b, dns := m.Hosts["a"], m.Hosts["b"], m.Hosts["dns"]
			start(t, m, ctx, "b", responder)
			err := m.StartDaemon(ctx, "a", lab.HostConfig{
				Policies:       map[string]string{"private-or-clear": lan}, // the resolver too
				Extra:          "dataplane: " + tc.dataplane + "\n",
				NoDNSExemption: !tc.exempt,
			})
			if err != nil {
				t.Fatal(err)
			}
			c := capture(t, m)
			r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
			time.Sleep(100 * time.Millisecond)
			counts := c.Settled()
			rtt, _ := firstRTT(r.Output)
			shunts := shuntsOn(t, m, "a")
			// A 15-minute (oe.shunt_lifetime) shunt is a failed negotiation's.
			failed := func(dst netip.Addr) *control.ShuntStatus {
				for i, s := range shunts {
					if s.Dst == dst.String() && time.Until(s.Expires) > 10*time.Minute {
						return &shunts[i]
					}
				}
				return nil
			}
			dnsIKE := counts.Between(a.Addr4, dns.Addr4, lab.KindIKE)
			dnsESP := counts.Between(a.Addr4, dns.Addr4, lab.KindESP)
			detail := fmt.Sprintf("ping: %d/%d, first %v in %v\ncapture %v\nshunts %+v\nexplain %s",
				r.Received, r.Sent, r.First, rtt, counts, shunts, explainOn(t, m, "a", dns.Addr4))

			if !tc.exempt {
				// The deadlock: b's first echo waits for DNS to time out (1 s
				// per attempt, two attempts) or is lost, b's flow gets the
				// failure shunt, and a negotiates with its own resolver.
				delayed := !r.First || rtt >= time.Second || failed(b.Addr4) != nil
				deadlocked := dnsIKE > 0 || failed(dns.Addr4) != nil
				if !delayed || !deadlocked {
					t.Errorf("without the exemption the deadlock did not happen (b delayed or shunted %v, IKE or shunt toward the resolver %v): the test no longer shows what the exemption fixes\n%s",
						delayed, deadlocked, detail)
				}
				t.Logf("without the exemption:\n%s", detail)
				if out := explainOn(t, m, "a", dns.Addr4); !strings.Contains(out, "private-or-clear") {
					t.Errorf("exemption off, but a explains its resolver as %q", out)
				}
				return
			}

			if r.Received != 5 || !r.First || rtt >= time.Second {
				t.Errorf("a→b: the first echo must be answered without waiting for DNS to time out\n%s", detail)
			}
			if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
				t.Errorf("%d cleartext ICMP packets between a and b\n%s", n, detail)
			}
			if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n < 10 {
				t.Errorf("%d ESP packets between a and b, want ≥ 10\n%s", n, detail)
			}
			// The resolver's own traffic stays clear: a's queries are UDP to
			// port 53 (the capture counts them as clear UDP), never IKE or ESP.
			if n := counts.From(a.Addr4, dns.Addr4, lab.KindClearUDP); n == 0 {
				t.Errorf("no clear DNS query from a to its resolver\n%s", detail)
			}
			if dnsIKE+dnsESP != 0 {
				t.Errorf("%d IKE and %d ESP packets between a and its resolver, want none\n%s", dnsIKE, dnsESP, detail)
			}
			if s := failed(dns.Addr4); s != nil {
				t.Errorf("failure shunt for the resolver: %+v", *s)
			}
			if s := failed(b.Addr4); s != nil {
				t.Errorf("failure shunt for b: %+v", *s)
			}
			if out := explainOn(t, m, "a", dns.Addr4); out != "198.18.0.53: clear-or-private (198.18.0.53/32: exempt from OE, DNS server from dns.servers)\n" {
				t.Errorf("a explains its resolver as %q", out)
			}
			if log := m.Log("a"); !strings.Contains(log, "exempt from OE") || !strings.Contains(log, "addr=198.18.0.53") {
				t.Errorf("a's log does not record the exemption:\n%s", log)
			}
		})
	}
}

// shuntsOn lists a host's shunts through its control socket.
func shuntsOn(t *testing.T, m *lab.Mesh, host string) []control.ShuntStatus {
	t.Helper()
	out, err := m.CLI(t.Context(), host, "shunts", "--json")
	if err != nil {
		t.Fatalf("oemesh shunts on %s: %v\n%s", host, err, out)
	}
	var s []control.ShuntStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("oemesh shunts --json on %s: %v\n%s", host, err, out)
	}
	return s
}

// explainOn is `oemesh policy explain ADDR` on a host.
func explainOn(t *testing.T, m *lab.Mesh, host string, addr netip.Addr) string {
	t.Helper()
	out, _ := m.CLI(t.Context(), host, "policy", "explain", addr.String())
	return out
}
