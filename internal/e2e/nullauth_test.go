package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestNullPrivateUnsignedKey: with dns.require_dnssec on, B publishes a
// key in an unsigned zone (no AD bit) and A puts B in its private group.
// With oe.null_auth at its default (fallback), A encrypts anonymously
// (NULL, RFC 7619) — never clear text — with one negotiation: the first
// echo is answered, no echo crosses the wire in the clear, and B ends with
// one tunnel to A, NULL-authenticated.
func TestNullPrivateUnsignedKey(t *testing.T) {
	for _, tc := range []struct {
		name           string
		faultA, faultB lab.DNSFault
	}{
		// Both resolvers near: DNS and IKE_SA_INIT race, either may win
		// (the unit tests of oe take each order in turn).
		{name: "resolvers-near"},
		// a's resolver is 50 ms away, so a's IKE_AUTH (signed) is out
		// before DNS tells a that b's key is unsigned; b's is 150 ms
		// away, so b verifies a only after a's NULL attempt would have
		// finished. Before the fix b then replaced the NULL SA a uses by
		// the signed one a had abandoned (uniqueids), and a had to
		// negotiate again.
		{name: "ike-auth-first", faultA: lab.DNSFault{Delay: 50 * time.Millisecond}, faultB: lab.DNSFault{Delay: 150 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMesh(t, lab.MeshOptions{})
			ctx := ctxT(t, 60*time.Second)
			if err := m.SetSigned("a", true); err != nil { // b can verify a; a cannot verify b
				t.Fatal(err)
			}
			a, b := m.Hosts["a"], m.Hosts["b"]
			if tc.faultA != (lab.DNSFault{}) {
				m.DNS.SetFault(a.Addr4, tc.faultA)
			}
			if tc.faultB != (lab.DNSFault{}) {
				m.DNS.SetFault(b.Addr4, tc.faultB)
			}
			start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, RequireDNSSEC: true})
			start(t, m, ctx, "a", lab.HostConfig{RequireDNSSEC: true, Policies: map[string]string{
				"private-or-clear": lan, "clear": clearDNS, "private": "198.18.0.2\n"}})
			c := capture(t, m)
			r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond)
			time.Sleep(200 * time.Millisecond)
			counts := c.Settled()
			if r.Received != 5 || !r.First {
				t.Errorf("ping a→b (private, unsigned key): %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
			}
			if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
				t.Errorf("private group: %d cleartext ICMP packets between a and b", n)
			}
			if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n < 10 {
				t.Errorf("%d ESP packets between a and b, want ≥ 10 (%v)", n, counts)
			}
			// One negotiation per flow: the tunnel a uses is never
			// replaced or deleted under it, and b never holds two SAs for
			// the flow at once.
			logA, logB := m.Log("a"), m.Log("b")
			if n := strings.Count(logA, "OE up"); n != 1 || strings.Contains(logA, "tunnel down") {
				t.Errorf("a: %d 'OE up' (want 1), tunnel down: %v", n, strings.Contains(logA, "tunnel down"))
			}
			if strings.Contains(logB, "peer reconnected") {
				t.Errorf("b held two SAs for a's flow at once and replaced one (double negotiation)")
			}
			for host, peer := range map[string]string{"a": b.Addr4.String(), "b": a.Addr4.String()} {
				out, _ := m.CLI(ctx, host, "traffic", "--json")
				var sas []control.TunnelStatus
				json.Unmarshal([]byte(out), &sas)
				if len(sas) != 1 || sas[0].Peer != peer || sas[0].Auth != control.AuthNull {
					t.Errorf("%s's SAs: want one, NULL-authenticated, with %s:\n%s", host, peer, out)
				}
			}
		})
	}
}

// TestNullPrivateUnsignedKeyOff: the same with oe.null_auth: off — the
// other documented behaviour: private drops, not one packet in the clear,
// and b keeps no half of the signed attempt a gave up.
func TestNullPrivateUnsignedKeyOff(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	if err := m.SetSigned("a", true); err != nil {
		t.Fatal(err)
	}
	m.DNS.SetFault(m.Hosts["a"].Addr4, lab.DNSFault{Delay: 50 * time.Millisecond})
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, RequireDNSSEC: true})
	start(t, m, ctx, "a", lab.HostConfig{RequireDNSSEC: true, Extra: "oe:\n  null_auth: \"off\"\n", Policies: map[string]string{
		"private-or-clear": lan, "clear": clearDNS, "private": "198.18.0.2\n"}})
	c := capture(t, m)
	a, b := m.Hosts["a"], m.Hosts["b"]
	r := m.Ping(ctx, "a", b.Addr4, 3, 200*time.Millisecond)
	counts := c.Settled()
	if r.Received != 0 {
		t.Errorf("private, unsigned key, null_auth off: %d echoes answered, want 0 (dropped)", r.Received)
	}
	if n := counts.From(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("private group leaked %d cleartext packets a→b", n)
	}
	if ss, out := shunts(t, m, ctx, "a"); !hasShunt(ss, func(s control.ShuntStatus) bool {
		return s.Kind == control.ShuntDrop && strings.Contains(s.Reason, "no key in DNS")
	}) {
		t.Errorf("a's shunts:\n%s", out)
	}
	out, _ := m.CLI(ctx, "b", "traffic", "--json")
	var sas []control.TunnelStatus
	json.Unmarshal([]byte(out), &sas)
	if len(sas) != 0 {
		t.Errorf("b keeps SAs with a, which a does not have:\n%s", out)
	}
}
