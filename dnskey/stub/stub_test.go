package stub

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/logtest"
)

type harness struct {
	up       *upstream
	stub     *Stub
	binder   *fakeBinder
	prestart *fakePrestart
	logs     *logtest.Buffer
}

// newHarness starts an upstream and a stub in front of it, with a real
// dnskey.Resolver (DNSSEC required unless acceptInsecure), a fake binder
// and a fake prestart.
func newHarness(t *testing.T, acceptInsecure bool, tweak ...func(*Config)) *harness {
	t.Helper()
	h := &harness{up: startUpstream(t), binder: newFakeBinder(), prestart: newFakePrestart(), logs: &logtest.Buffer{}}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	res, err := dnskey.New(dnskey.Config{Servers: []string{h.up.addr}, Timeout: time.Second, AcceptInsecure: acceptInsecure, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Listen:    netip.MustParseAddrPort("127.0.0.1:0"),
		Upstreams: []string{h.up.addr},
		Timeout:   time.Second,
		InOE:      oeNet,
		Keys:      res,
		Binder:    h.binder,
		Prestart:  h.prestart.prestart,
		Logger:    log,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	h.stub, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.stub.Serve(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.stub.Close() })
	return h
}

func (h *harness) ask(t *testing.T, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, true)
	return h.exchange(t, network, m)
}

func (h *harness) exchange(t *testing.T, network string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, h.stub.Addr().String())
	if err != nil {
		t.Fatalf("asking the stub for %s over %s: %v", m.Question[0].Name, network, err)
	}
	return resp
}

func waitBind(t *testing.T, b *fakeBinder) bind {
	t.Helper()
	select {
	case bd := <-b.ch:
		return bd
	case <-time.After(5 * time.Second):
		t.Fatal("no Bind within 5s")
	}
	return bind{}
}

func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// settle waits for the stub's background work to end.
func (h *harness) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.stub.mu.Lock()
		n := len(h.stub.pending)
		h.stub.mu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("background work still pending after 5s")
}

func TestForwardUnchanged(t *testing.T) {
	h := newHarness(t, false)
	h.up.setReply(func(w dns.ResponseWriter, req *dns.Msg) bool {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNameError)
		m.Authoritative, m.RecursionAvailable, m.AuthenticatedData = true, true, true
		m.SetEdns0(4096, true)
		m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "cafe"})
		m.Ns = []dns.RR{mustRR("example. 60 IN SOA ns.example. h.example. 7 1 1 1 60")}
		w.WriteMsg(m)
		return true
	})
	for _, network := range []string{"udp", "tcp"} {
		q := new(dns.Msg)
		q.SetQuestion("nothing.example.", dns.TypeA)
		q.Id = 4242
		q.CheckingDisabled = true
		q.AuthenticatedData = true
		q.SetEdns0(1400, true)
		q.IsEdns0().Option = append(q.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
		resp := h.exchange(t, network, q)

		got := h.up.last()
		if got.net != network {
			t.Errorf("%s query went upstream over %s", network, got.net)
		}
		up := got.msg
		if up.Id != 4242 || !up.RecursionDesired || !up.CheckingDisabled || !up.AuthenticatedData {
			t.Errorf("upstream saw ID %d RD %v CD %v AD %v, want 4242 and all set", up.Id, up.RecursionDesired, up.CheckingDisabled, up.AuthenticatedData)
		}
		if o := up.IsEdns0(); o == nil || !o.Do() || o.UDPSize() != 1400 || len(o.Option) != 1 || o.Option[0].String() != "0102030405060708" {
			t.Errorf("upstream saw EDNS0 %v, want DO, size 1400 and the cookie", o)
		}
		if resp.Id != 4242 || resp.Rcode != dns.RcodeNameError || !resp.Authoritative || !resp.RecursionAvailable || !resp.AuthenticatedData {
			t.Errorf("%s: client got ID %d rcode %s AA %v RA %v AD %v; want 4242 NXDOMAIN and all set",
				network, resp.Id, dns.RcodeToString[resp.Rcode], resp.Authoritative, resp.RecursionAvailable, resp.AuthenticatedData)
		}
		if o := resp.IsEdns0(); o == nil || !o.Do() || o.UDPSize() != 4096 || len(o.Option) != 1 || o.Option[0].Option() != dns.EDNS0NSID {
			t.Errorf("%s: client got EDNS0 %v, want the upstream's (DO, 4096, NSID)", network, o)
		}
		if len(resp.Ns) != 1 || resp.Ns[0].(*dns.SOA).Serial != 7 {
			t.Errorf("%s: authority section %v, want the upstream's SOA", network, resp.Ns)
		}
	}
	if s := h.stub.Stats(); s.Queries != 2 || s.Forwarded != 2 || s.ServFail != 0 {
		t.Errorf("stats %+v, want 2 queries, 2 forwarded", s)
	}
}

func mustRR(s string) dns.RR {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return rr
}

func TestTruncatedRetriesOverTCP(t *testing.T) {
	h := newHarness(t, false)
	for i := range 40 {
		h.up.add("big.example. 300 IN TXT \""+strings.Repeat("x", 200)+string(rune('a'+i%26))+"\"", false)
	}
	q := new(dns.Msg)
	q.SetQuestion("big.example.", dns.TypeTXT) // no EDNS0: 512 bytes over UDP
	c := dns.Client{Net: "udp", Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(q, h.stub.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Truncated {
		t.Fatalf("UDP answer of %d records not truncated", len(resp.Answer))
	}
	resp = h.exchange(t, "tcp", q)
	if resp.Truncated || len(resp.Answer) != 40 {
		t.Fatalf("TCP answer: TC %v, %d records; want the whole 40", resp.Truncated, len(resp.Answer))
	}
	if got := h.up.last().net; got != "tcp" {
		t.Errorf("the TCP query went upstream over %s", got)
	}
}

func TestUpstreamDownServFail(t *testing.T) {
	// An address nobody listens on: UDP gets no answer, TCP is refused.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := pc.LocalAddr().String()
	pc.Close()
	h := newHarness(t, false, func(c *Config) { c.Upstreams = []string{dead}; c.Timeout = 200 * time.Millisecond })
	for _, network := range []string{"udp", "tcp"} {
		q := new(dns.Msg)
		q.SetQuestion("host.example.", dns.TypeA)
		q.Id = 777
		q.SetEdns0(1232, true)
		resp := h.exchange(t, network, q)
		if resp.Rcode != dns.RcodeServerFailure || resp.Id != 777 || len(resp.Answer) != 0 {
			t.Errorf("%s: rcode %s, ID %d, %d answers; want SERVFAIL, 777, none", network, dns.RcodeToString[resp.Rcode], resp.Id, len(resp.Answer))
		}
		if o := resp.IsEdns0(); o == nil || !o.Do() {
			t.Errorf("%s: SERVFAIL without the DO bit the query had", network)
		}
	}
	h.settle(t)
	if h.binder.count() != 0 || h.prestart.count() != 0 {
		t.Errorf("%d binds, %d prestarts after SERVFAIL; want none", h.binder.count(), h.prestart.count())
	}
	if s := h.stub.Stats(); s.ServFail != 2 || s.Forwarded != 0 || s.Lookups != 0 {
		t.Errorf("stats %+v, want 2 SERVFAIL, nothing forwarded or looked up", s)
	}
}

func TestBindsEveryAddress(t *testing.T) {
	for _, tc := range []struct {
		qtype uint16
		rrs   []string
		want  []netip.Addr
	}{
		{dns.TypeA, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}, addrs("192.0.2.1", "192.0.2.2", "192.0.2.3")},
		{dns.TypeAAAA, []string{"2001:db8::1", "2001:db8::2", "2001:db8::3"}, addrs("2001:db8::1", "2001:db8::2", "2001:db8::3")},
	} {
		t.Run(dns.TypeToString[tc.qtype], func(t *testing.T) {
			h := newHarness(t, false)
			for i, a := range tc.rrs {
				h.up.add("three.example. "+[]string{"300", "120", "600"}[i]+" IN "+dns.TypeToString[tc.qtype]+" "+a, true)
			}
			key := ipseckey(t, "three.example.")
			h.up.addRR(key, true)
			resp := h.ask(t, "udp", "three.example.", tc.qtype)
			if len(resp.Answer) != 3 {
				t.Fatalf("the application got %d records, want 3", len(resp.Answer))
			}
			bd := waitBind(t, h.binder)
			if bd.name != "three.example." || !slices.Equal(bd.addrs, tc.want) || bd.ttl != 120*time.Second {
				t.Errorf("Bind(%q, %v, ttl %v), want three.example., %v, 2m0s", bd.name, bd.addrs, bd.ttl, tc.want)
			}
			if len(bd.keys.Keys) != 1 || !bd.keys.Keys[0].Secure || bd.keys.Keys[0].Record != key.String() {
				t.Errorf("bound keys %+v, want the one secure IPSECKEY", bd.keys.Keys)
			}
			h.settle(t)
			if h.binder.count() != 1 {
				t.Errorf("%d Binds, want 1", h.binder.count())
			}
			var pre []netip.Addr
			for range 3 {
				select {
				case a := <-h.prestart.ch:
					pre = append(pre, a)
				case <-time.After(5 * time.Second):
					t.Fatalf("prestarts %v, want all three", pre)
				}
			}
			if !slices.Equal(pre, tc.want) {
				t.Errorf("prestarted %v, want %v", pre, tc.want)
			}
			if s := h.stub.Stats(); s.Bindings != 1 || s.Prestarts != 3 || s.Lookups != 1 {
				t.Errorf("stats %+v, want 1 lookup, 1 binding, 3 prestarts", s)
			}
		})
	}
}

func TestCNAMEChain(t *testing.T) {
	h := newHarness(t, false)
	h.up.add("www.example. 600 IN CNAME web.example.", true)
	h.up.add("web.example. 90 IN CNAME host.example.", true)
	h.up.add("host.example. 300 IN A 192.0.2.9", true)
	h.up.addRR(ipseckey(t, "www.example."), true)
	h.ask(t, "udp", "www.example.", dns.TypeA)
	bd := waitBind(t, h.binder)
	if bd.name != "www.example." || !slices.Equal(bd.addrs, addrs("192.0.2.9")) || bd.ttl != 90*time.Second {
		t.Errorf("Bind(%q, %v, %v), want www.example., [192.0.2.9], 1m30s (the chain's smallest TTL)", bd.name, bd.addrs, bd.ttl)
	}
}

func TestOutsideOEGroupsNotLookedUp(t *testing.T) {
	h := newHarness(t, false)
	h.up.add("clear.example. 300 IN A 198.51.100.7", true)
	h.up.addRR(ipseckey(t, "clear.example."), true)
	resp := h.ask(t, "udp", "clear.example.", dns.TypeA)
	if len(resp.Answer) != 1 {
		t.Fatalf("answer %v", resp.Answer)
	}
	h.settle(t)
	time.Sleep(50 * time.Millisecond)
	if n := h.up.queries("clear.example.", dns.TypeIPSECKEY); n != 0 {
		t.Errorf("%d IPSECKEY queries for a name outside the OE groups, want 0", n)
	}
	if h.binder.count() != 0 || h.prestart.count() != 0 {
		t.Errorf("%d binds, %d prestarts, want none", h.binder.count(), h.prestart.count())
	}
}

func TestUnsignedKeyUnderRequireDNSSEC(t *testing.T) {
	h := newHarness(t, false)
	h.up.add("unsigned.example. 300 IN A 192.0.2.5", false)
	h.up.addRR(ipseckey(t, "unsigned.example."), false)
	for range 3 {
		h.ask(t, "udp", "unsigned.example.", dns.TypeA)
		// The prestart still happens: OE then looks at the reverse name,
		// as for any acquire.
		select {
		case <-h.prestart.ch:
		case <-time.After(5 * time.Second):
			t.Fatal("no prestart")
		}
		h.settle(t)
	}
	if h.binder.count() != 0 {
		t.Fatalf("%d Binds of an unsigned key under require_dnssec, want 0", h.binder.count())
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "dns stub: no binding for a name"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once per name:\n%s", n, logs)
	}
	if !strings.Contains(logs, "unsigned.example.") || !strings.Contains(logs, "require_dnssec") {
		t.Errorf("the log does not name the name and the reason:\n%s", logs)
	}
	if s := h.stub.Stats(); s.LookupsFailed != 3 || s.Bindings != 0 {
		t.Errorf("stats %+v, want 3 failed look-ups and no binding", s)
	}

	// With require_dnssec off the same record binds, marked insecure.
	h2 := newHarness(t, true)
	h2.up.add("unsigned.example. 300 IN A 192.0.2.5", false)
	h2.up.addRR(ipseckey(t, "unsigned.example."), false)
	h2.ask(t, "udp", "unsigned.example.", dns.TypeA)
	if bd := waitBind(t, h2.binder); len(bd.keys.Keys) != 1 || bd.keys.Keys[0].Secure {
		t.Errorf("keys %+v, want one insecure key", bd.keys.Keys)
	}
}

func TestAnswerNotDelayedByLookup(t *testing.T) {
	h := newHarness(t, false)
	h.up.add("slow.example. 300 IN A 192.0.2.7", true)
	h.up.add("slow.example. 300 IN AAAA 2001:db8::7", true)
	h.up.addRR(ipseckey(t, "slow.example."), true)
	release := make(chan struct{})
	h.up.mu.Lock()
	h.up.block[dns.TypeIPSECKEY] = release
	h.up.mu.Unlock()

	start := time.Now()
	resp := h.ask(t, "udp", "slow.example.", dns.TypeA)
	if len(resp.Answer) != 1 {
		t.Fatalf("answer %v", resp.Answer)
	}
	// The AAAA answer of the same name joins the pending look-up.
	if resp := h.ask(t, "tcp", "slow.example.", dns.TypeAAAA); len(resp.Answer) != 1 {
		t.Fatalf("AAAA answer %v", resp.Answer)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("answers took %v while the key look-up was blocked", took)
	}
	// The look-up is under way and blocked: nothing bound yet.
	deadline := time.Now().Add(5 * time.Second)
	for h.up.queries("slow.example.", dns.TypeIPSECKEY) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if h.binder.count() != 0 || h.prestart.count() != 0 {
		t.Fatal("bound or prestarted before the key look-up finished")
	}
	close(release)
	bd := waitBind(t, h.binder)
	if !slices.Equal(bd.addrs, addrs("192.0.2.7", "2001:db8::7")) {
		t.Errorf("Bind addresses %v, want the A and the AAAA answer's", bd.addrs)
	}
	h.settle(t)
	if n := h.up.queries("slow.example.", dns.TypeIPSECKEY); n != 1 {
		t.Errorf("%d IPSECKEY queries, want 1 (in-flight look-ups are shared)", n)
	}
	if h.binder.count() != 1 {
		t.Errorf("%d Binds, want 1", h.binder.count())
	}
}

func TestPendingBounded(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.MaxPending = 1; c.MaxLookups = 1 })
	h.up.add("one.example. 300 IN A 192.0.2.11", true)
	h.up.add("two.example. 300 IN A 192.0.2.12", true)
	release := make(chan struct{})
	h.up.mu.Lock()
	h.up.block[dns.TypeIPSECKEY] = release
	h.up.mu.Unlock()
	h.ask(t, "udp", "one.example.", dns.TypeA)
	h.ask(t, "udp", "two.example.", dns.TypeA)
	close(release)
	h.settle(t)
	if s := h.stub.Stats(); s.Dropped != 1 || s.Lookups != 1 {
		t.Errorf("stats %+v, want 1 look-up and 1 dropped", s)
	}
}

func TestNoBinderStillPrestarts(t *testing.T) {
	h := newHarness(t, false, func(c *Config) { c.Binder = nil })
	h.up.add("plain.example. 300 IN A 192.0.2.20", true)
	h.ask(t, "udp", "plain.example.", dns.TypeA)
	select {
	case a := <-h.prestart.ch:
		if a != netip.MustParseAddr("192.0.2.20") {
			t.Errorf("prestarted %v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no prestart")
	}
	if n := h.up.queries("plain.example.", dns.TypeIPSECKEY); n != 0 {
		t.Errorf("%d IPSECKEY queries without a binder, want 0", n)
	}
}

func TestNewRefusesItselfAsUpstream(t *testing.T) {
	_, err := New(Config{Listen: netip.MustParseAddrPort("127.0.0.53:53"), Upstreams: []string{"127.0.0.53:53"}, InOE: oeNet})
	if err == nil || !strings.Contains(err.Error(), "the stub itself") {
		t.Errorf("New with itself as upstream: %v", err)
	}
}

func TestCloseCancelsLookups(t *testing.T) {
	h := newHarness(t, false)
	h.up.add("hang.example. 300 IN A 192.0.2.30", true)
	release := make(chan struct{})
	defer close(release)
	h.up.mu.Lock()
	h.up.block[dns.TypeIPSECKEY] = release
	h.up.mu.Unlock()
	h.ask(t, "udp", "hang.example.", dns.TypeA)
	done := make(chan struct{})
	go func() { h.stub.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a look-up hung")
	}
	_ = context.Background
}

// BindNames: a name without a key is bound alone (for certificate OE);
// without it, nothing is bound.
func TestBindNamesWithoutKey(t *testing.T) {
	for _, names := range []bool{false, true} {
		h := newHarness(t, false, func(c *Config) { c.BindNames = names })
		h.up.add("www.example. 300 IN A 192.0.2.7", true)
		h.ask(t, "udp", "www.example.", dns.TypeA)
		h.settle(t)
		if !names {
			if h.binder.count() != 0 {
				t.Errorf("without BindNames: %d Binds of a name without a key", h.binder.count())
			}
			continue
		}
		bd := waitBind(t, h.binder)
		if bd.name != "www.example." || !slices.Equal(bd.addrs, addrs("192.0.2.7")) || len(bd.keys.Keys) != 0 {
			t.Errorf("Bind(%q, %v, %d keys), want www.example. and its address alone", bd.name, bd.addrs, len(bd.keys.Keys))
		}
	}
}
