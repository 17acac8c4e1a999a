package publish

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func testKey(seed byte) crypto.PublicKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s).Public()
}

var testSpec = Spec{Forward: "b.example", Addresses: []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:db8::2")},
	AtForward: true, AtReverse: true, AddressRecords: true, TTL: 300, Precedence: 10}

// sections renders a message's update section one record a line.
func sections(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Ns {
		h := rr.Header()
		out = append(out, dns.ClassToString[h.Class]+" "+dns.TypeToString[h.Rrtype]+" "+h.Name)
	}
	return out
}

func TestPlanSet(t *testing.T) {
	c, err := Plan(testSpec, OpSet, []crypto.PublicKey{testKey(1), testKey(2)})
	if err != nil {
		t.Fatal(err)
	}
	c.Zone = "example."
	m := c.Msg()
	if m.Opcode != dns.OpcodeUpdate || m.Question[0].Name != "example." || m.Question[0].Qtype != dns.TypeSOA {
		t.Fatalf("zone section: %v", m.Question)
	}
	if len(m.Answer) != 0 {
		t.Fatalf("prerequisites %v: Set needs none (it states the final RRsets)", m.Answer)
	}
	rev4, rev6 := "2.0.18.198.in-addr.arpa.", "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
	want := []string{
		// Deletes first, then adds: one atomic replace per RRset.
		"ANY IPSECKEY b.example.", "ANY IPSECKEY " + rev4, "ANY IPSECKEY " + rev6, "ANY A b.example.", "ANY AAAA b.example.",
		"IN IPSECKEY b.example.", "IN IPSECKEY b.example.", "IN IPSECKEY " + rev4, "IN IPSECKEY " + rev4,
		"IN IPSECKEY " + rev6, "IN IPSECKEY " + rev6, "IN A b.example.", "IN AAAA b.example.",
	}
	if got := sections(m); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("update section:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, rr := range m.Ns {
		if rr.Header().Class == dns.ClassINET && rr.Header().Ttl != 300 {
			t.Fatalf("%v: TTL %d, want 300", rr, rr.Header().Ttl)
		}
		if rr.Header().Class == dns.ClassANY && rr.Header().Ttl != 0 {
			t.Fatalf("%v: an RRset delete must have TTL 0", rr)
		}
	}
	if _, err := m.Pack(); err != nil {
		t.Fatalf("pack: %v", err)
	}
}

func TestPlanAddAndWithdraw(t *testing.T) {
	spec := Spec{Forward: "b.example.", AtForward: true, TTL: 60}
	add, err := Plan(spec, OpAdd, []crypto.PublicKey{testKey(2)})
	if err != nil {
		t.Fatal(err)
	}
	add.Zone = "example."
	if got := sections(add.Msg()); strings.Join(got, ",") != "IN IPSECKEY b.example." {
		t.Fatalf("add: %v, want only an insert", got)
	}
	w, err := Plan(spec, OpWithdraw, []crypto.PublicKey{testKey(1)})
	if err != nil {
		t.Fatal(err)
	}
	w.Zone = "example."
	m := w.Msg()
	if got := sections(m); strings.Join(got, ",") != "NONE IPSECKEY b.example." {
		t.Fatalf("withdraw: %v, want the one record deleted (class NONE), never the RRset", got)
	}
	// The record deleted is ours, byte for byte.
	k := m.Ns[0].(*dns.IPSECKEY)
	ours, _ := Plan(spec, OpAdd, []crypto.PublicKey{testKey(1)})
	if k.PublicKey != ours.Insert[0].(*dns.IPSECKEY).PublicKey {
		t.Fatal("withdraw deletes another key")
	}
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		keys []crypto.PublicKey
		err  string
	}{
		{"nothing", Spec{TTL: 1}, nil, "nothing to publish"},
		{"forward without name", Spec{AtForward: true, TTL: 1}, nil, "needs a forward name"},
		{"reverse without address", Spec{AtReverse: true, TTL: 1}, nil, "needs the host's addresses"},
		{"ttl 0", Spec{Forward: "b.example.", AtForward: true}, nil, "TTL 0"},
		{"no key", Spec{Forward: "b.example.", AtForward: true, TTL: 1}, nil, "no host key"},
		{"bad precedence", Spec{Forward: "b.example.", AtForward: true, TTL: 1, Precedence: 300}, []crypto.PublicKey{testKey(1)}, "precedence 300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Plan(tt.spec, OpSet, tt.keys); err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestByZone(t *testing.T) {
	c, err := Plan(testSpec, OpSet, []crypto.PublicKey{testKey(1)})
	if err != nil {
		t.Fatal(err)
	}
	zones, err := c.byZone(func(name string) (string, error) {
		switch {
		case dns.IsSubDomain("example.", name):
			return "example.", nil
		case dns.IsSubDomain("in-addr.arpa.", name):
			return "18.198.in-addr.arpa.", nil
		}
		return "", errors.New("no zone for " + name)
	})
	if err == nil {
		t.Fatalf("an unknown zone was not reported: %+v", zones)
	}
	zones, err = c.byZone(func(name string) (string, error) {
		if dns.IsSubDomain("arpa.", name) {
			return "arpa.", nil
		}
		return "example.", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != 2 || zones[0].Zone != "example." || zones[1].Zone != "arpa." {
		t.Fatalf("zones %+v", zones)
	}
	if got := zones[0].Records(); got != "IPSECKEY b.example., A b.example., AAAA b.example." {
		t.Fatalf("example.'s records: %q", got)
	}
	if len(zones[1].RemoveRRsets) != 2 || len(zones[1].Insert) != 2 {
		t.Fatalf("arpa.: %+v", zones[1])
	}
}

func TestUpdateErrorText(t *testing.T) {
	e := &UpdateError{Server: "192.0.2.53:53", Zone: "example.", Records: "IPSECKEY b.example.", Rcode: dns.RcodeRefused}
	want := "DNS UPDATE of zone example. at 192.0.2.53:53 (IPSECKEY b.example.): server answered REFUSED (5): the server's policy does not allow this key to update these records (ACL)"
	if e.Error() != want {
		t.Fatalf("got  %s\nwant %s", e.Error(), want)
	}
	e = &UpdateError{Server: "192.0.2.53:53", Zone: "example.", Records: "IPSECKEY b.example.", Rcode: -1, Err: errors.New("i/o timeout")}
	if !strings.HasSuffix(e.Error(), ": i/o timeout") {
		t.Fatal(e.Error())
	}
}
