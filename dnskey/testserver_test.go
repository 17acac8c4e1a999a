package dnskey

import (
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// testServer is an in-process DNS server on 127.0.0.1 (UDP and TCP on the
// same port) serving a map of records, with knobs for failures.
type testServer struct {
	addr string

	mu       sync.Mutex
	records  map[string][]dns.RR // lower-case name → records
	nxdomain map[string]bool     // names that do not exist
	servfail map[string]bool     // names answered with SERVFAIL
	drop     map[string]bool     // names never answered (timeout)
	failType map[uint16]bool     // types answered with SERVFAIL, for every name
	soa      *dns.SOA            // in the authority section of negative answers; nil = none
	ad       bool                // set the AD bit on answers
	udpMax   int                 // truncate UDP answers above this size (0: the client's EDNS0 size)
	gate     chan struct{}       // when set, answers wait for it to be closed

	queries atomic.Int64
	tcp     atomic.Int64
	byKey   sync.Map // "name type" → *atomic.Int64
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	s := &testServer{
		records: map[string][]dns.RR{}, nxdomain: map[string]bool{}, servfail: map[string]bool{}, drop: map[string]bool{}, failType: map[uint16]bool{},
		soa: mustRR(t, "example. 3600 IN SOA ns.example. host.example. 1 3600 600 86400 300").(*dns.SOA),
	}
	pc, ln := listenUDPAndTCP(t)
	s.addr = pc.LocalAddr().String()
	mux := dns.NewServeMux()
	mux.HandleFunc(".", s.serve)
	udp := &dns.Server{PacketConn: pc, Handler: mux}
	tcp := &dns.Server{Listener: ln, Handler: mux}
	for _, srv := range []*dns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe()
		<-started
	}
	t.Cleanup(func() {
		s.mu.Lock()
		if s.gate != nil {
			select {
			case <-s.gate:
			default:
				close(s.gate)
			}
		}
		s.mu.Unlock()
		udp.Shutdown()
		tcp.Shutdown()
	})
	return s
}

// listenUDPAndTCP opens a UDP and a TCP socket on the same port of
// 127.0.0.1. The port the kernel gives the UDP socket may be taken for
// TCP, by a listener or by the local end of a connection (of a test in
// another package running at the same time, or of another process): it
// then tries another, holding the ports it tried until it has one.
func listenUDPAndTCP(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	var tried []net.PacketConn
	defer func() {
		for _, pc := range tried {
			pc.Close()
		}
	}()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln
		}
		tried = append(tried, pc)
	}
	t.Fatal("no port on 127.0.0.1 free for both UDP and TCP after 20 tries")
	return nil, nil
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("bad test record %q: %v", s, err)
	}
	return rr
}

func (s *testServer) add(t testing.TB, rrs ...string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range rrs {
		rr := mustRR(t, x)
		n := strings.ToLower(rr.Header().Name)
		s.records[n] = append(s.records[n], rr)
	}
}

func (s *testServer) addRR(rrs ...dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		n := strings.ToLower(rr.Header().Name)
		s.records[n] = append(s.records[n], rr)
	}
}

func (s *testServer) count(name string, qtype uint16) int64 {
	v, ok := s.byKey.Load(strings.ToLower(name) + " " + dns.TypeToString[qtype])
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func (s *testServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		s.tcp.Add(1)
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	v, _ := s.byKey.LoadOrStore(name+" "+dns.TypeToString[q.Qtype], new(atomic.Int64))
	v.(*atomic.Int64).Add(1)

	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drop[name] {
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	switch {
	case s.servfail[name] || s.failType[q.Qtype]:
		m.Rcode = dns.RcodeServerFailure
	case s.nxdomain[name]:
		m.Rcode = dns.RcodeNameError
	default:
		for _, rr := range s.records[name] {
			if rr.Header().Rrtype == q.Qtype || rr.Header().Rrtype == dns.TypeCNAME {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
	}
	if m.Rcode == dns.RcodeNameError || m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0 {
		if s.soa != nil {
			m.Ns = append(m.Ns, dns.Copy(s.soa))
		}
	}
	m.AuthenticatedData = s.ad && m.Rcode != dns.RcodeServerFailure
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		size := dns.MinMsgSize
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
		}
		if s.udpMax > 0 {
			size = min(size, s.udpMax)
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

// set changes the server's knobs under its lock (the network is not a
// happens-before edge for the race detector).
func (s *testServer) set(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f()
}
