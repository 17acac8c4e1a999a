package reliability

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

const (
	// dnsTimeout is a's dns.timeout; dnskey tries its one server twice
	// (dnskey/query.go), so a look-up fails within dnsTries × dnsTimeout.
	dnsTimeout = time.Second
	dnsTries   = 2
	// shuntMargin is what the bound allows beyond that for the shunt to be
	// set and seen: the first echo's acquire, IKE_SA_INIT before the
	// look-up, and the 50 ms polls of `oemesh shunts` on a loaded box.
	shuntMargin = time.Second
)

// TestDNSFaults: a has b in its private group and pings it while its
// resolver misbehaves. Whatever the fault, no echo may cross the wire in
// the clear. When a's look-up of b's key fails, a must set exactly the
// private group's failure shunt (drop) toward b within dns.timeout ×
// tries, and keep it. A forged (unsigned) key under require_dnssec is not
// a failure: a must not use it, and negotiates anonymously (NULL
// authentication, which private accepts: encrypted, unauthenticated).
// The same forgery without require_dnssec is used, b's AUTH does not
// verify under it, and a sets the failure shunt: the run that shows what
// require_dnssec changes.
func TestDNSFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fault breaks a's resolver before the pings start; during, after
		// pings began.
		fault  func(m *lab.Mesh)
		during func(m *lab.Mesh)
		dnssec bool
		// anonymous: the outcome is a NULL-authenticated tunnel, not the
		// failure shunt.
		anonymous bool
	}{
		{name: "servfail", fault: func(m *lab.Mesh) {
			m.DNS.SetFault(m.Hosts["a"].Addr4, lab.DNSFault{Rcode: dns.RcodeServerFailure})
		}},
		{name: "answers-after-5s", fault: func(m *lab.Mesh) {
			m.DNS.SetFault(m.Hosts["a"].Addr4, lab.DNSFault{Delay: 5 * time.Second})
		}},
		{name: "dies-mid-negotiation", fault: func(m *lab.Mesh) {
			// The first query is in flight (held 5 s) when the server
			// goes away; the retry finds no server.
			m.DNS.SetFault(m.Hosts["a"].Addr4, lab.DNSFault{Delay: 5 * time.Second})
		}, during: func(m *lab.Mesh) {
			time.Sleep(300 * time.Millisecond)
			m.DNS.Close()
		}},
		// The lab's zone is unsigned: a forged key for b, published in
		// place of b's own, arrives without DNSSEC.
		{name: "forged-unsigned-key-under-require-dnssec", fault: forgeKeyOfB, dnssec: true, anonymous: true},
		{name: "forged-unsigned-key-without-require-dnssec", fault: forgeKeyOfB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMesh(t)
			ctx := ctxT(t, 60*time.Second)
			a, b := m.Hosts["a"], m.Hosts["b"]
			start(t, m, ctx, "b", lab.HostConfig{Policies: responderPolicies})
			start(t, m, ctx, "a", lab.HostConfig{Policies: map[string]string{"private": b.Addr4.String() + "/32\n", "clear": clearDNS},
				DNSTimeout: dnsTimeout, RequireDNSSEC: tc.dnssec})
			if tc.fault != nil {
				tc.fault(m)
			}
			c, err := lab.StartCapture(m.Sw)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Stop() })
			began := time.Now()
			p, err := lab.StartPinger(ctx, a.Node, b.Addr4, 100*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Stop)
			duringDone := make(chan struct{})
			go func() {
				defer close(duringDone)
				if tc.during != nil {
					tc.during(m)
				}
			}()
			// The mesh's Close closes the DNS server too: not both at once.
			t.Cleanup(func() { <-duringDone })
			bound := dnsTries*dnsTimeout + shuntMargin
			var shunts []control.ShuntStatus
			var tunnel *control.TunnelStatus
			var took time.Duration
			for {
				shunts = shuntsTo(t, m, "a", b.Addr4.String())
				tunnel = tunnelTo(t, m, "a", b.Addr4.String())
				took = time.Since(began)
				if len(shunts) > 0 || tunnel != nil || took > bound+2*time.Second {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			// Let the pings run on: the late answer of a slow resolver
			// must change nothing.
			time.Sleep(2 * time.Second)
			p.Stop()
			sent, _ := p.Sent()
			wire := c.Settled()
			clear := wire.From(a.Addr4, b.Addr4, lab.KindICMP)
			replies := wire.From(b.Addr4, a.Addr4, lab.KindICMP)
			outcome := "none"
			switch {
			case tunnel != nil:
				outcome = fmt.Sprintf("tunnel (auth %s)", tunnel.Auth)
			case len(shunts) > 0:
				outcome = fmt.Sprintf("%s shunt", shunts[0].Kind)
			}
			t.Logf("FIGURE dns fault %s: %s after %v (bound %v); %d echoes sent, %d in the clear, %d answered in the clear",
				tc.name, outcome, took.Round(10*time.Millisecond), bound, sent, clear, replies)
			if clear != 0 || replies != 0 {
				t.Errorf("cleartext toward a private peer: %d echo requests, %d replies", clear, replies)
			}
			if took > bound {
				t.Errorf("no outcome within %v (dns.timeout %v × %d tries, and %v)", bound, dnsTimeout, dnsTries, shuntMargin)
			}
			if tc.anonymous {
				if tunnel == nil || tunnel.Auth != control.AuthNull || len(shunts) != 0 {
					t.Errorf("tunnel toward b %+v, shunts %+v; want a NULL-authenticated tunnel and no shunt", tunnel, shunts)
				}
				return
			}
			if len(shunts) != 1 || shunts[0].Kind != control.ShuntDrop || shunts[0].Group != control.GroupPrivate || tunnel != nil {
				t.Errorf("shunts toward b: %+v, tunnel %+v; want exactly one drop shunt of the private group and no tunnel", shunts, tunnel)
			}
			if after := shuntsTo(t, m, "a", b.Addr4.String()); len(after) != 1 || after[0].Kind != control.ShuntDrop {
				t.Errorf("shunts toward b 2 s later: %+v, want the same drop shunt", after)
			}
		})
	}
}

// forgeKeyOfB publishes a key of the attacker's in place of b's.
func forgeKeyOfB(m *lab.Mesh) {
	if err := m.ReplaceKeyInDNS("b"); err != nil {
		panic(fmt.Sprintf("forging b's key: %v", err))
	}
}

// tunnelTo is a host's tunnel with peer, or nil.
func tunnelTo(t *testing.T, m *lab.Mesh, host, peer string) *control.TunnelStatus {
	t.Helper()
	for _, ts := range tunnels(t, m, ctxT(t, 10*time.Second), host) {
		if ts.Peer == peer {
			return &ts
		}
	}
	return nil
}

// shuntsTo is a host's shunts toward dst.
func shuntsTo(t *testing.T, m *lab.Mesh, host, dst string) []control.ShuntStatus {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	out, err := m.CLI(ctx, host, "shunts", "--json")
	if err != nil {
		t.Fatalf("oemesh shunts on %s: %v\n%s", host, err, out)
	}
	var all []control.ShuntStatus
	if err := json.Unmarshal([]byte(out), &all); err != nil {
		t.Fatalf("oemesh shunts --json on %s: %v\n%s", host, err, out)
	}
	var to []control.ShuntStatus
	for _, s := range all {
		if s.Dst == dst {
			to = append(to, s)
		}
	}
	return to
}
