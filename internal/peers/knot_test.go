package peers

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/internal/netnstest"
)

// The harness itself: knot signs the zone, unbound validates it (AD=1), a
// TSIG-signed UPDATE is applied, and there is no reverse zone.
func TestKnotZoneSignedAndUpdatable(t *testing.T) {
	in := Require(t)
	ns := netnstest.New(t, "knz")
	z := ServeKnotZone(t, in, ns.Name, "example.", KnotOptions{Records: "a IN A 198.18.0.1\n", TTL: 2})
	if !strings.Contains(z.DS, "example. DS ") {
		t.Fatalf("DS: %q", z.DS)
	}
	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		q.SetEdns0(1232, true)
		var r *dns.Msg
		if err := ns.Do(func() error {
			var err error
			r, _, err = (&dns.Client{Net: "tcp", Timeout: 3 * time.Second}).Exchange(q, z.Resolver)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ask("a.example.", dns.TypeA); r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData || len(r.Answer) == 0 {
		t.Fatalf("a.example. A through unbound: want a validated answer, got\n%v", r)
	}
	// No reverse zone: unbound has nowhere to ask.
	if r := ask("1.0.18.198.in-addr.arpa.", dns.TypePTR); r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
		t.Fatalf("a reverse answer:\n%v", r)
	}

	u := new(dns.Msg)
	u.SetUpdate(z.Zone)
	rr, err := dns.NewRR("c.example. 2 IN A 198.18.0.3")
	if err != nil {
		t.Fatal(err)
	}
	u.Insert([]dns.RR{rr})
	u.SetTsig(z.KeyName, dns.HmacSHA256, 300, time.Now().Unix())
	if err := ns.Do(func() error {
		c := &dns.Client{Net: "tcp", Timeout: 3 * time.Second, TsigSecret: map[string]string{z.KeyName: z.KeySecret}}
		r, _, err := c.Exchange(u, z.Addr)
		if err == nil && r.Rcode != dns.RcodeSuccess {
			t.Errorf("UPDATE: %s", dns.RcodeToString[r.Rcode])
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := z.Read(t, "c.example.", "A"); !strings.Contains(got, "198.18.0.3") {
		t.Fatalf("after the UPDATE knot holds %q", got)
	}
	if r := ask("c.example.", dns.TypeA); !r.AuthenticatedData || len(r.Answer) == 0 {
		t.Fatalf("the updated record is not served signed:\n%v", r)
	}
}

// An unsigned child zone (KnotOptions.Unsigned) is an insecure delegation: the validating
// resolver answers for it without AD, while the signed parent's answers keep it; and the
// servers listen where they are told, with unbound open to the clients named.
func TestKnotZoneUnsignedChild(t *testing.T) {
	ns := netnstest.New(t, "knu")
	// Addresses on loopback other than the defaults stand for a LAN's.
	knot, resolver := netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.9")
	z := ServeKnotZone(t, nil, ns.Name, "example.", KnotOptions{
		Records:         "a IN A 198.18.0.1\n",
		Unsigned:        map[string]string{"lab": "x IN A 198.18.0.7\n"},
		Addr:            knot,
		ResolverAddr:    resolver,
		ResolverClients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		TTL:             2,
	})
	if z.Addr != "[::1]:53" || z.Resolver != "127.0.0.9:53" {
		t.Fatalf("addresses: knot %s, unbound %s", z.Addr, z.Resolver)
	}
	ask := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		q.SetEdns0(1232, true)
		var r *dns.Msg
		if err := ns.Do(func() error {
			var err error
			r, _, err = (&dns.Client{Net: "tcp", Timeout: 3 * time.Second}).Exchange(q, z.Resolver)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ask("a.example.", dns.TypeA); r.Rcode != dns.RcodeSuccess || !r.AuthenticatedData || len(r.Answer) == 0 {
		t.Fatalf("a.example. A: want a validated answer, got\n%v", r)
	}
	if r := ask("x.lab.example.", dns.TypeA); r.Rcode != dns.RcodeSuccess || r.AuthenticatedData || len(r.Answer) == 0 {
		t.Fatalf("x.lab.example. A: want an answer without AD (insecure delegation), got\n%v", r)
	}
	// The SOA names the primary, ns.example., at knot's address.
	r := ask("ns.example.", dns.TypeAAAA)
	found := false
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.AAAA); ok && a.AAAA.String() == "::1" {
			found = true
		}
	}
	if !found {
		t.Fatalf("ns.example. AAAA: want ::1, got\n%v", r)
	}
}
