package stub

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzReadAnswer feeds arbitrary upstream messages to the answer reader:
// it must not panic, and what it returns must come from the message: the
// question's name, and only host addresses that an answer record of the
// question's type carries.
func FuzzReadAnswer(f *testing.F) {
	seed := func(rrs ...string) {
		m := new(dns.Msg)
		m.SetQuestion("www.example.", dns.TypeA)
		m.Response = true
		for _, s := range rrs {
			m.Answer = append(m.Answer, mustRR(s))
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seed("www.example. 300 IN A 192.0.2.1", "www.example. 60 IN A 192.0.2.2")
	seed("www.example. 300 IN CNAME a.example.", "a.example. 300 IN CNAME www.example.", "www.example. 1 IN A 0.0.0.0")
	seed("www.example. 300 IN CNAME host.example.", "host.example. 30 IN A 192.0.2.3", "other.example. 30 IN A 192.0.2.4")
	seed("www.example. 300 IN A 224.0.0.1", "www.example. 300 IN AAAA 2001:db8::1")
	f.Fuzz(func(t *testing.T, b []byte) {
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			return
		}
		a, ok := readAnswer(m)
		if !ok {
			return
		}
		if len(m.Question) != 1 || !strings.EqualFold(a.name, m.Question[0].Name) {
			t.Fatalf("name %q is not the question's %v", a.name, m.Question)
		}
		if _, ok := dns.IsDomainName(a.name); !ok {
			t.Fatalf("name %q is not a domain name", a.name)
		}
		if len(a.addrs) == 0 || len(a.addrs) > maxAddrs {
			t.Fatalf("%d addresses", len(a.addrs))
		}
		for _, addr := range a.addrs {
			if !hostAddr(addr) {
				t.Fatalf("address %v is no host's", addr)
			}
			if !inAnswer(m, addr) {
				t.Fatalf("address %v is not in an answer record of type %s", addr, dns.TypeToString[m.Question[0].Qtype])
			}
		}
	})
}

func inAnswer(m *dns.Msg, a netip.Addr) bool {
	for _, rr := range m.Answer {
		if rr.Header().Rrtype != m.Question[0].Qtype {
			continue
		}
		switch r := rr.(type) {
		case *dns.A:
			if v, ok := netip.AddrFromSlice(r.A.To4()); ok && v == a {
				return true
			}
		case *dns.AAAA:
			if v, ok := netip.AddrFromSlice(r.AAAA); ok && v == a {
				return true
			}
		}
	}
	return false
}
