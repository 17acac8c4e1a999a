package e2e

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestDNSStubPrestart: an application on A resolves B's name through A's
// DNS stub; the stub prestarts OE to B (B's key at its reverse name, as
// for any acquire), so the IKE SA is up before the application's first
// packet, no packet is ever trapped, and the first ping is answered over
// ESP with no cleartext ICMP on the wire.
func TestDNSStubPrestart(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	for _, s := range []string{"b.lab. 60 IN A " + b.Addr4.String(), "b.lab. 60 IN AAAA " + b.Addr6.String()} {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		m.DNS.Add(rr)
	}
	start(t, m, ctx, "b", responder)
	hc := initiator
	hc.StubListen = "127.0.0.53:53"
	start(t, m, ctx, "a", hc)
	c := capture(t, m)

	// The application: a query to the stub from inside A.
	var resp *dns.Msg
	took := time.Duration(0)
	if err := a.Node.Do(func() error {
		q := new(dns.Msg)
		q.SetQuestion("b.lab.", dns.TypeA)
		t0 := time.Now()
		var err error
		resp, _, err = (&dns.Client{Timeout: 5 * time.Second}).Exchange(q, "127.0.0.53:53")
		took = time.Since(t0)
		return err
	}); err != nil {
		t.Fatalf("resolving b.lab through A's stub: %v", err)
	}
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != b.Addr4.String() {
		t.Fatalf("the stub answered %v", resp)
	}
	t.Logf("the stub answered in %v", took)

	// The IKE SA comes up with no packet sent.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ts, _ := traffic(t, m, ctx, "a")
		if slices.ContainsFunc(ts, func(tn control.TunnelStatus) bool { return tn.Peer == b.Addr4.String() }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tunnel to B within 10s of the answer; A's log:\n%s", m.Log("a"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := status(t, m, ctx, "a")
	if st.Counts["dns_stub_queries"] != 1 || st.Counts["dns_stub_forwarded"] != 1 || st.Counts["dns_stub_prestarts"] != 1 {
		t.Errorf("stub counters %v: want 1 query, 1 forwarded, 1 prestart", st.Counts)
	}

	c.Reset()
	r := m.Ping(ctx, "a", b.Addr4, 3, 200*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	counts := c.Settled()
	if r.Received != 3 || !r.First {
		t.Errorf("ping a→b: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("%d cleartext ICMP packets between a and b", n)
	}
	if n := counts.From(a.Addr4, b.Addr4, lab.KindESP); n < 3 {
		t.Errorf("%d ESP packets from a to b, want the 3 echoes", n)
	}
	if st := status(t, m, ctx, "a"); st.Counts["acquires"] != 0 {
		t.Errorf("%d acquires on A: the first packet was trapped, so the prestart did not run ahead of it", st.Counts["acquires"])
	}
}

// status is host's `oemesh status --json`.
func status(t *testing.T, m *lab.Mesh, ctx context.Context, host string) control.Status {
	t.Helper()
	out, err := m.CLI(ctx, host, "status", "--json")
	var st control.Status
	if err == nil {
		err = decodeStrict([]byte(out), &st)
	}
	if err != nil {
		t.Fatalf("oemesh status --json on %s: %v\n%s", host, err, out)
	}
	return st
}
