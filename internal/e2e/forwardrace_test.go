package e2e

import (
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestForwardNameStubRace: the race between the stub's look-up at the
// name and the application's first packet, made deterministic. B
// publishes its key only at b.example. and proves @b.example. A's DNS
// answers come 400 ms late, so the stub's IPSECKEY look-up, which starts
// once the application has its answer, is still running when the
// application pings B right away: the acquire comes before the binding.
// The negotiation waits for the binding the stub marked pending, then
// verifies B as @b.example with the name's key: the first ping is
// answered over ESP and nothing is shunted. Without the pending mark the
// acquire expects B's address as identity, refuses @b.example and sets
// a pass shunt (the pings then go in clear).
func TestForwardNameStubRace(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{"a"}})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	forwardKey(t, m, "b", "b.example.", nil)
	addRRs(t, m, "b.example. 60 IN A "+b.Addr4.String())

	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, Extra: "identity: \"@b.example\"\n"})
	// The stub's key look-up after the answer (early_lookup off: with it
	// on, the look-up is delayed as long as the answer and may end with
	// it), so the ping comes while it runs.
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, StubListen: "127.0.0.53:53", DNSTimeout: 2 * time.Second,
		DNS: "    early_lookup: false\n", Extra: "oe:\n  null_auth: \"off\"\n"})
	c := capture(t, m)
	const delay = 400 * time.Millisecond
	m.DNS.SetFault(a.Addr4, lab.DNSFault{Delay: delay})

	if err := a.Node.Do(func() error {
		q := new(dns.Msg)
		q.SetQuestion("b.example.", dns.TypeA)
		resp, _, err := (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, "127.0.0.53:53")
		if err == nil && (resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1) {
			t.Errorf("the stub answered %v", resp)
		}
		return err
	}); err != nil {
		t.Fatalf("resolving b.example through A's stub: %v", err)
	}
	// At once, as applications do: the stub's look-up is still running.
	r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts := c.Settled()
	if !r.First {
		t.Errorf("ping a→b: the first echo was not answered (%d/%d)\n%s", r.Received, r.Sent, r.Output)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("%d cleartext ICMP packets between a and b", n)
	}
	if n := counts.From(a.Addr4, b.Addr4, lab.KindESP); n < 1 {
		t.Errorf("%d ESP packets from a to b", n)
	}
	ts, out := traffic(t, m, ctx, "a")
	if !hasTunnel(ts, func(tn control.TunnelStatus) bool {
		return tn.Peer == b.Addr4.String() && tn.PeerID == "@b.example" && tn.Auth == control.AuthKey
	}) {
		t.Errorf("oemesh traffic on a, want peer @b.example authenticated by key:\n%s", out)
	}
	st := status(t, m, ctx, "a")
	if st.Counts["shunts"] != 0 || st.Counts["acquires"] < 1 ||
		st.Counts["binding_pending_waits"] != 1 || st.Counts["binding_pending_bound"] != 1 || st.Counts["binding_pending_timeouts"] != 0 {
		t.Errorf("A's counters %v: want no shunt, an acquire that waited for the binding and found it", st.Counts)
	}
	if t.Failed() {
		t.Logf("A's log:\n%s", logTail(m.Log("a"), 80))
	}
}
