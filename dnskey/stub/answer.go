package stub

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// maxAddrs bounds the addresses taken from one answer: a forged or broken
// upstream message must not make us start hundreds of look-ups.
const maxAddrs = 32

// maxChain bounds the CNAME links followed in one answer.
const maxChain = 8

// answer is what the stub takes from one upstream response: the name the
// application asked for, the addresses the answer gives it (after the
// CNAME chain), and how long the answer may be used.
type answer struct {
	name  string // the question's name, lower case, fully qualified
	addrs []netip.Addr
	ttl   time.Duration // the smallest TTL along the chain
}

// readAnswer reads resp, the response to an A or AAAA question, and
// reports whether it holds addresses for the question's name. It follows
// the CNAME chain from the question's name through the answer section;
// records with other owners are ignored (an upstream may add anything),
// and so are addresses that no host can have (unspecified, multicast,
// broadcast, an IPv4 address inside an AAAA record).
func readAnswer(resp *dns.Msg) (answer, bool) {
	if resp == nil || !resp.Response || resp.Opcode != dns.OpcodeQuery || resp.Rcode != dns.RcodeSuccess ||
		resp.Truncated || len(resp.Question) != 1 {
		return answer{}, false
	}
	q := resp.Question[0]
	if q.Qclass != dns.ClassINET || (q.Qtype != dns.TypeA && q.Qtype != dns.TypeAAAA) {
		return answer{}, false
	}
	if _, ok := dns.IsDomainName(q.Name); !ok || !dns.IsFqdn(q.Name) || q.Name == "." {
		return answer{}, false
	}
	name := strings.ToLower(q.Name)
	a := answer{name: name}
	var minTTL uint32
	seen := false
	note := func(ttl uint32) {
		if !seen || ttl < minTTL {
			minTTL = ttl
		}
		seen = true
	}
	owner := name
	for range maxChain {
		next := ""
		for _, rr := range resp.Answer {
			if c, ok := rr.(*dns.CNAME); ok && c.Hdr.Class == dns.ClassINET && strings.EqualFold(c.Hdr.Name, owner) {
				next = strings.ToLower(c.Target)
				note(c.Hdr.Ttl)
				break
			}
		}
		if next == "" || next == owner {
			break
		}
		owner = next
	}
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Class != dns.ClassINET || h.Rrtype != q.Qtype || !strings.EqualFold(h.Name, owner) {
			continue
		}
		var addr netip.Addr
		switch r := rr.(type) {
		case *dns.A:
			v, ok := netip.AddrFromSlice(r.A.To4())
			if !ok || r.A.To4() == nil {
				continue
			}
			addr = v
		case *dns.AAAA:
			v, ok := netip.AddrFromSlice(r.AAAA)
			if !ok || len(r.AAAA) != 16 || v.Is4In6() {
				continue
			}
			addr = v
		default:
			continue
		}
		if !hostAddr(addr) || slices.Contains(a.addrs, addr) {
			continue
		}
		note(h.Ttl)
		a.addrs = append(a.addrs, addr)
		if len(a.addrs) == maxAddrs {
			break
		}
	}
	if len(a.addrs) == 0 {
		return answer{}, false
	}
	a.ttl = time.Duration(minTTL) * time.Second
	return a, true
}

// hostAddr reports whether a can be a host's unicast address.
func hostAddr(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && a != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}
