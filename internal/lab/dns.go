package lab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNSServer is the lab's embedded authoritative DNS server. It answers
// exactly the records it holds: NODATA (with an SOA, for negative caching)
// for a name it has with another type, NXDOMAIN for a name it lacks.
// Records can change while it runs, e.g. to publish a key later.
type DNSServer struct {
	mu      sync.RWMutex
	records map[string][]dns.RR // by lower-case FQDN
	soa     *dns.SOA
	servers []*dns.Server
	queries map[string]int
	faults  map[netip.Addr]DNSFault // by client address
	secure  map[string]bool         // names whose answers carry the AD bit
}

// DNSFault is how the server misbehaves toward one client, to stand for a
// slow, broken or dead resolver on that host.
type DNSFault struct {
	Delay time.Duration // answer this late (a query still in flight when the fault is cleared keeps its delay)
	Rcode int           // answer with this rcode and no records (e.g. dns.RcodeServerFailure); 0: answer normally
	Drop  bool          // never answer, as a dead resolver
}

// SetFault makes the server misbehave toward queries from client; a zero
// DNSFault clears it.
func (s *DNSServer) SetFault(client netip.Addr, f DNSFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.faults == nil {
		s.faults = map[netip.Addr]DNSFault{}
	}
	if f == (DNSFault{}) {
		delete(s.faults, client)
		return
	}
	s.faults[client] = f
}

func (s *DNSServer) faultFor(w dns.ResponseWriter) DNSFault {
	var client netip.Addr
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		client = a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		client = a.AddrPort().Addr().Unmap()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.faults[client]
}

// SetSecure marks name's answers (positive or negative) as validated by
// DNSSEC: they carry the AD bit when the query asks for it (DO or AD set),
// as a validating resolver's answers from a signed zone do. Names not
// marked are answered without it, as from an unsigned zone; that is the
// default for every name.
func (s *DNSServer) SetSecure(name string, secure bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secure == nil {
		s.secure = map[string]bool{}
	}
	name = strings.ToLower(dns.Fqdn(name))
	if !secure {
		delete(s.secure, name)
		return
	}
	s.secure[name] = true
}

// NewDNSServer makes an empty server whose negative answers carry an SOA
// with the given minimum TTL (seconds).
func NewDNSServer(negTTL uint32) *DNSServer {
	return &DNSServer{
		records: map[string][]dns.RR{},
		queries: map[string]int{},
		soa: &dns.SOA{
			Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: negTTL},
			Ns:  "ns.lab.", Mbox: "hostmaster.lab.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: negTTL,
		},
	}
}

// Add publishes records (their owner names are taken from their headers).
func (s *DNSServer) Add(rrs ...dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rr := range rrs {
		name := strings.ToLower(dns.Fqdn(rr.Header().Name))
		s.records[name] = append(s.records[name], rr)
	}
}

// Remove withdraws every record of name.
func (s *DNSServer) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, strings.ToLower(dns.Fqdn(name)))
}

// Queries returns how many queries name received (any type).
func (s *DNSServer) Queries(name string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.queries[strings.ToLower(dns.Fqdn(name))]
}

// ServeDNS answers one query.
func (s *DNSServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	s.queries[name]++
	s.mu.Unlock()
	switch f := s.faultFor(w); {
	case f.Drop:
		return
	case f.Rcode != 0:
		time.Sleep(f.Delay)
		m.Rcode = f.Rcode
		w.WriteMsg(m)
		return
	default:
		time.Sleep(f.Delay)
	}
	s.mu.Lock()
	rrs, exists := s.records[name]
	secure := s.secure[name]
	s.mu.Unlock()
	if o := req.IsEdns0(); secure && (req.AuthenticatedData || (o != nil && o.Do())) {
		m.AuthenticatedData = true
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == q.Qtype || q.Qtype == dns.TypeANY {
			m.Answer = append(m.Answer, dns.Copy(rr))
		}
	}
	if len(m.Answer) == 0 {
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
		soa := dns.Copy(s.soa).(*dns.SOA)
		m.Ns = []dns.RR{soa}
	}
	// Large RSA TXT answers: let clients retry over TCP.
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := 512
		if o := req.IsEdns0(); o != nil {
			size = int(o.UDPSize())
			m.SetEdns0(o.UDPSize(), false)
		}
		m.Truncate(size)
	}
	w.WriteMsg(m)
}

// Start serves on addr (UDP and TCP, port 53 if none is given) inside node.
func (s *DNSServer) Start(node *Node, addr netip.Addr) (netip.AddrPort, error) {
	ap := netip.AddrPortFrom(addr, 53)
	var (
		pc net.PacketConn
		ln net.Listener
	)
	err := node.Do(func() error {
		var err error
		if pc, err = net.ListenPacket("udp", ap.String()); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", ap.String())
		return err
	})
	if err != nil {
		if pc != nil {
			pc.Close()
		}
		return netip.AddrPort{}, fmt.Errorf("lab: DNS server on %s in %s: %w", ap, node.NSName, err)
	}
	// Both servers are serving when Start returns, so that Close right
	// after (a test that replaces this server, Mesh.StopFakeDNS) does not
	// find one "not started" and leave its socket open.
	started := make(chan struct{}, 2)
	notify := func() { started <- struct{}{} }
	udp := &dns.Server{PacketConn: pc, Handler: s, NotifyStartedFunc: notify}
	tcp := &dns.Server{Listener: ln, Handler: s, NotifyStartedFunc: notify}
	s.servers = append(s.servers, udp, tcp)
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	for range 2 {
		select {
		case <-started:
		case err := <-errc:
			s.Close()
			return netip.AddrPort{}, fmt.Errorf("lab: DNS server on %s in %s: %w", ap, node.NSName, err)
		case <-time.After(5 * time.Second):
			s.Close()
			return netip.AddrPort{}, fmt.Errorf("lab: DNS server on %s in %s did not start within 5s", ap, node.NSName)
		}
	}
	return ap, nil
}

// Close stops serving.
func (s *DNSServer) Close() error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(); err != nil {
			errs = append(errs, err)
		}
	}
	s.servers = nil
	return errors.Join(errs...)
}
