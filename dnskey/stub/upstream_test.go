package stub

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/dnskey"
)

// upstream is an in-process resolver on loopback (UDP and TCP) that
// answers from its records, and remembers the queries it saw.
type upstream struct {
	addr string

	mu      sync.Mutex
	records map[string][]dns.RR // by lower-case name
	secure  map[string]bool     // names whose answers carry AD
	seen    []seenQuery
	// block, when set for a query type, holds those queries until the
	// channel is closed.
	block map[uint16]chan struct{}
	// reply, when set, answers instead of the records.
	reply func(w dns.ResponseWriter, req *dns.Msg) bool
}

type seenQuery struct {
	net string
	msg *dns.Msg
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{records: map[string][]dns.RR{}, secure: map[string]bool{}, block: map[uint16]chan struct{}{}}
	pc, ln := listenPair(t)
	u.addr = pc.LocalAddr().String()
	for _, srv := range []*dns.Server{
		{PacketConn: pc, Handler: u.handler("udp")},
		{Listener: ln, Handler: u.handler("tcp")},
	} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
		t.Cleanup(func() { srv.Shutdown() })
	}
	return u
}

// listenPair listens on UDP and TCP on one loopback port the system
// picks. The UDP port's TCP twin may be taken (by any process's
// connection): then it tries another.
func listenPair(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	var err error
	for range 20 {
		var pc net.PacketConn
		pc, err = net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var ln net.Listener
		ln, err = net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		pc.Close()
	}
	t.Fatalf("no loopback port free for both UDP and TCP: %v", err)
	return nil, nil
}

func (u *upstream) add(s string, secure bool) {
	rr, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	name := strings.ToLower(rr.Header().Name)
	u.records[name] = append(u.records[name], rr)
	if secure {
		u.secure[name] = true
	}
}

func (u *upstream) addRR(rr dns.RR, secure bool) { u.add(rr.String(), secure) }

// setReply makes f answer instead of the records.
func (u *upstream) setReply(f func(w dns.ResponseWriter, req *dns.Msg) bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.reply = f
}

// last is the last query seen.
func (u *upstream) last() seenQuery {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen[len(u.seen)-1]
}

// queries counts the queries seen for name and type.
func (u *upstream) queries(name string, qtype uint16) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, q := range u.seen {
		if strings.EqualFold(q.msg.Question[0].Name, name) && q.msg.Question[0].Qtype == qtype {
			n++
		}
	}
	return n
}

func (u *upstream) handler(network string) dns.HandlerFunc {
	return func(w dns.ResponseWriter, req *dns.Msg) {
		u.mu.Lock()
		u.seen = append(u.seen, seenQuery{network, req.Copy()})
		block := u.block[req.Question[0].Qtype]
		reply := u.reply
		u.mu.Unlock()
		if block != nil {
			<-block
		}
		if reply != nil && reply(w, req) {
			return
		}
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true
		q := req.Question[0]
		u.mu.Lock()
		// Follow CNAMEs, as a recursive resolver does.
		name := strings.ToLower(q.Name)
		for range 8 {
			var next string
			for _, rr := range u.records[name] {
				switch {
				case rr.Header().Rrtype == q.Qtype:
					m.Answer = append(m.Answer, dns.Copy(rr))
				case rr.Header().Rrtype == dns.TypeCNAME:
					m.Answer = append(m.Answer, dns.Copy(rr))
					next = strings.ToLower(rr.(*dns.CNAME).Target)
				}
			}
			if next == "" {
				break
			}
			name = next
		}
		if _, ok := u.records[strings.ToLower(q.Name)]; !ok {
			m.Rcode = dns.RcodeNameError
		}
		if o := req.IsEdns0(); o != nil {
			m.SetEdns0(o.UDPSize(), o.Do())
			if u.secure[strings.ToLower(q.Name)] && o.Do() {
				m.AuthenticatedData = true
			}
		}
		u.mu.Unlock()
		if len(m.Answer) == 0 {
			m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 60},
				Ns: "ns.example.", Mbox: "h.example.", Serial: 1, Refresh: 1, Retry: 1, Expire: 1, Minttl: 60}}
		}
		if network == "udp" {
			size := dns.MinMsgSize
			if o := req.IsEdns0(); o != nil {
				size = int(o.UDPSize())
			}
			m.Truncate(size)
		}
		w.WriteMsg(m)
	}
}

// ipseckey is an Ed25519 IPSECKEY record at name.
func ipseckey(t testing.TB, name string) *dns.IPSECKEY {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rr, err := dnskey.IPSECKEYRecord(dnskey.RecordSpec{Name: name, TTL: 300, Precedence: 10, PublicKey: pub})
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// fakeBinder records every Bind.
type fakeBinder struct {
	mu    sync.Mutex
	binds []bind
	ch    chan bind
}

type bind struct {
	name  string
	addrs []netip.Addr
	keys  dnskey.Result
	ttl   time.Duration
}

func newFakeBinder() *fakeBinder { return &fakeBinder{ch: make(chan bind, 64)} }

func (b *fakeBinder) Bind(name string, addrs []netip.Addr, keys dnskey.Result, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	bd := bind{name, append([]netip.Addr(nil), addrs...), keys, ttl}
	b.binds = append(b.binds, bd)
	b.ch <- bd
	return nil
}

// Pend marks nothing: the tests of pending marks use a real store.
func (b *fakeBinder) Pend([]netip.Addr) *dnskey.Pending { return nil }

func (b *fakeBinder) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.binds)
}

// fakePrestart records the addresses prestarted.
type fakePrestart struct {
	mu    sync.Mutex
	addrs []netip.Addr
	ch    chan netip.Addr
}

func newFakePrestart() *fakePrestart { return &fakePrestart{ch: make(chan netip.Addr, 64)} }

func (p *fakePrestart) prestart(_ context.Context, a netip.Addr) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.addrs = append(p.addrs, a)
	p.ch <- a
	return true
}

func (p *fakePrestart) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.addrs)
}

// oeNet is the OE group of the tests: 192.0.2.0/24 and 2001:db8::/32.
func oeNet(a netip.Addr) bool {
	return netip.MustParsePrefix("192.0.2.0/24").Contains(a) || netip.MustParsePrefix("2001:db8::/32").Contains(a)
}
