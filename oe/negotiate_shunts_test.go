package oe

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// TestPolicyChangeStopsNegotiation: a reload that puts a destination being
// negotiated into a group that does not initiate ends the negotiation at
// once, and the flow gets the new group's answer (clear passes, block
// drops), not the failure shunt of the group it started in. A reload that
// keeps it in an initiating group leaves the negotiation alone.
func TestPolicyChangeStopsNegotiation(t *testing.T) {
	for _, tc := range []struct {
		now     string // the group file the target moves to
		want    kernel.ShuntKind
		stopped bool
	}{
		{"clear", kernel.ShuntPass, true},
		{"block", kernel.ShuntDrop, true},
		{"clear-or-private", kernel.ShuntPass, true},
		{"private-or-clear", 0, false},
	} {
		t.Run(tc.now, func(t *testing.T) {
			dns := oetest.NewDNS()
			dns.SetDelay(3 * time.Second) // longer than the test waits for the stop
			o, dp := newTestOE(t, Config{NullAuth: NullOff, NegotiationTimeout: time.Minute}, dns, nil, oetest.NewKey(t))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/24\n"})); err != nil {
				t.Fatal(err)
			}
			go o.Run(ctx)
			dp.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: addrA, Dst: addrD}, Group: kernel.GroupPrivate, Time: time.Now()})
			negotiating := func() bool {
				o.mu.Lock()
				defer o.mu.Unlock()
				_, ok := o.negotiations[addrD]
				return ok
			}
			oetest.WaitFor(t, "the negotiation to start", negotiating)

			if _, err := o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{tc.now: "198.18.0.0/24\n"})); err != nil {
				t.Fatal(err)
			}
			if !tc.stopped {
				time.Sleep(200 * time.Millisecond)
				if !negotiating() {
					t.Fatal("a reload into another initiating group stopped the negotiation")
				}
				if s, ok := oetest.ShuntFor(dp, addrD.String()); ok {
					t.Fatalf("shunt %v set while the negotiation goes on", s)
				}
				return
			}
			oetest.WaitFor(t, "the negotiation to stop", func() bool { return !negotiating() })
			s, ok := oetest.ShuntFor(dp, addrD.String())
			if !ok {
				t.Fatal("no shunt after the negotiation stopped")
			}
			if s.Kind != tc.want || !strings.Contains(s.Reason, "policy changed") || !strings.Contains(s.Reason, tc.now) {
				t.Errorf("shunt %v %q, want %v naming the policy change to %s", s.Kind, s.Reason, tc.want, tc.now)
			}
		})
	}
}

// TestNegotiationPassNeverForPrivate: negotiation_shunt pass lets a
// private-or-clear flow go clear while it negotiates, never a private one.
func TestNegotiationPassNeverForPrivate(t *testing.T) {
	for _, tc := range []struct {
		group string
		kg    kernel.Group
		pass  bool
	}{{"private-or-clear", kernel.GroupPrivateOrClear, true}, {"private", kernel.GroupPrivate, false}} {
		t.Run(tc.group, func(t *testing.T) {
			dns := oetest.NewDNS()
			dns.SetDelay(3 * time.Second) // still negotiating while the test looks
			o, dp := newTestOE(t, Config{NullAuth: NullOff, NegotiationShunt: kernel.ShuntPass}, dns, nil, oetest.NewKey(t))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if _, err := o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{tc.group: "198.18.0.0/24\n"})); err != nil {
				t.Fatal(err)
			}
			go o.Run(ctx)
			dp.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: addrA, Dst: addrD}, Group: tc.kg, Time: time.Now()})
			oetest.WaitFor(t, "the negotiation to start", func() bool {
				o.mu.Lock()
				defer o.mu.Unlock()
				_, ok := o.negotiations[addrD]
				return ok
			})
			time.Sleep(100 * time.Millisecond)
			s, ok := oetest.ShuntFor(dp, addrD.String())
			switch {
			case tc.pass && (!ok || s.Kind != kernel.ShuntPass):
				t.Errorf("%s while negotiating: shunt %v (set: %v), want pass", tc.group, s.Kind, ok)
			case !tc.pass && ok:
				t.Errorf("%s while negotiating: %v shunt %q set, want none (held): private would go out in the clear", tc.group, s.Kind, s.Reason)
			}
		})
	}
}

// TestAcquireBehindUsPasses: a gateway traps a packet it forwards to one
// of its own clients (oe.gateway_for). The client's DNS record names this
// very host as its gateway, so negotiating would mean IKE with ourselves,
// holding the packets until it timed out (and a private group's drop
// shunt after). It passes at once, with no look-up and no IKE.
func TestAcquireBehindUsPasses(t *testing.T) {
	gw, client := addrA, netip.MustParseAddr("198.18.1.10")
	dns := oetest.NewDNS()
	dns.Publish(dnskey.AddrID(client), dnskey.Gateway{Kind: dnskey.GatewayAddr, Addr: gw}, oetest.NewKey(t).Public())
	sent := &countingSender{}
	o, dp := newTestOE(t, Config{GatewayFor: []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24")}}, dns, sent, oetest.NewKey(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := o.SetPolicy(ctx, oetest.MustPolicy(t, map[string]string{"private": "198.18.0.0/16\n"})); err != nil {
		t.Fatal(err)
	}
	go o.Run(ctx)
	dp.InjectAcquire(kernel.Acquire{Flow: kernel.Flow{Src: addrB, Dst: client}, Group: kernel.GroupPrivate, Time: time.Now()})
	oetest.WaitFor(t, "a shunt for the client", func() bool { _, ok := oetest.ShuntFor(dp, client.String()); return ok })
	s, _ := oetest.ShuntFor(dp, client.String())
	if s.Kind != kernel.ShuntPass || !strings.Contains(s.Reason, "gateway_for") {
		t.Errorf("shunt %v %q, want pass naming oe.gateway_for", s.Kind, s.Reason)
	}
	lookups := dns.Lookups()
	if lookups != 0 || sent.n != 0 {
		t.Errorf("%d DNS look-ups and %d IKE packets for our own client, want none", lookups, sent.n)
	}
}
