package publish

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// zoneServer is a fake resolver and primary: example. with its SOA MNAME
// ns.example. at 192.0.2.53; it records what it was asked and where.
type zoneServer struct {
	mu    sync.Mutex
	asked []string // "SERVER QTYPE NAME" or "SERVER UPDATE ZONE"
	down  map[string]bool
}

func (z *zoneServer) exchange(ctx context.Context, m *dns.Msg, server string) (*dns.Msg, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	q := m.Question[0]
	if m.Opcode == dns.OpcodeUpdate {
		z.asked = append(z.asked, server+" UPDATE "+q.Name)
	} else {
		z.asked = append(z.asked, server+" "+dns.TypeToString[q.Qtype]+" "+q.Name)
	}
	if z.down[server] {
		return nil, errors.New("i/o timeout")
	}
	r := new(dns.Msg)
	r.SetReply(m)
	soa, _ := dns.NewRR("example. 60 IN SOA ns.example. hostmaster.example. 1 3600 600 86400 60")
	switch {
	case m.Opcode == dns.OpcodeUpdate:
	case q.Qtype == dns.TypeSOA && q.Name == "example.":
		r.Answer = []dns.RR{soa}
	case q.Qtype == dns.TypeSOA && dns.IsSubDomain("example.", q.Name):
		r.Rcode = dns.RcodeNameError
		r.Ns = []dns.RR{soa}
	case q.Qtype == dns.TypeA && q.Name == "ns.example.":
		a, _ := dns.NewRR("ns.example. 60 IN A 192.0.2.53")
		r.Answer = []dns.RR{a}
	case q.Qtype == dns.TypeSOA:
		r.Rcode = dns.RcodeRefused
	}
	return r, nil
}

func TestPrimaryFromSOA(t *testing.T) {
	z := &zoneServer{down: map[string]bool{"192.0.2.1:53": true}}
	p, err := New(Config{Spec: Spec{Forward: "b.example.", AtForward: true, TTL: 60},
		Key: TSIGKey{Name: "k.", Algorithm: dns.HmacSHA256, Secret: secret}, Resolvers: []string{"192.0.2.1:53", "192.0.2.2:53"}})
	if err != nil {
		t.Fatal(err)
	}
	p.ex = z.exchange
	if err := p.Set(context.Background(), testKey(1)); err != nil {
		t.Fatal(err)
	}
	want := []string{
		// The first resolver is down; the second says b.example. is in
		// example., whose MNAME is ns.example., at 192.0.2.53.
		"192.0.2.1:53 SOA b.example.", "192.0.2.2:53 SOA b.example.",
		"192.0.2.1:53 A ns.example.", "192.0.2.2:53 A ns.example.",
		"192.0.2.1:53 AAAA ns.example.", "192.0.2.2:53 AAAA ns.example.",
		"192.0.2.53:53 UPDATE example.",
	}
	if strings.Join(z.asked, "\n") != strings.Join(want, "\n") {
		t.Fatalf("asked:\n%s\nwant:\n%s", strings.Join(z.asked, "\n"), strings.Join(want, "\n"))
	}
}

func TestConfiguredPrimaryAndZone(t *testing.T) {
	z := &zoneServer{}
	p, err := New(Config{Spec: Spec{Forward: "b.example.", AtForward: true, TTL: 60},
		Key: TSIGKey{Name: "k.", Algorithm: dns.HmacSHA256, Secret: secret}, Primary: "192.0.2.9:5353", Zone: "example"})
	if err != nil {
		t.Fatal(err)
	}
	p.ex = z.exchange
	if err := p.Set(context.Background(), testKey(1)); err != nil {
		t.Fatal(err)
	}
	if strings.Join(z.asked, ",") != "192.0.2.9:5353 UPDATE example." {
		t.Fatalf("asked %v, want one UPDATE to the configured primary", z.asked)
	}
	// A name outside the configured zone is refused before anything is sent.
	p.cfg.Zone = "other."
	if err := p.Set(context.Background(), testKey(1)); err == nil || !strings.Contains(err.Error(), "b.example. is not in zone other.") {
		t.Fatalf("err = %v", err)
	}
}

func TestZoneNotFound(t *testing.T) {
	z := &zoneServer{}
	p, err := New(Config{Spec: Spec{Forward: "b.nowhere.", AtForward: true, TTL: 60},
		Key: TSIGKey{Name: "k.", Algorithm: dns.HmacSHA256, Secret: secret}, Resolvers: []string{"192.0.2.2:53"}})
	if err != nil {
		t.Fatal(err)
	}
	p.ex = z.exchange
	if err := p.Set(context.Background(), testKey(1)); err == nil || !strings.Contains(err.Error(), "zone of b.nowhere.: 192.0.2.2:53: REFUSED") {
		t.Fatalf("err = %v", err)
	}
}
