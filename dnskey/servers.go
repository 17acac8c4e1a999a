package dnskey

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Server is one DNS server a Resolver asks, and where it was named.
type Server struct {
	Addr netip.AddrPort
	// File is the resolv.conf file whose nameserver line named it, or ""
	// when it was given as an address.
	File string
}

// ServerList reads entries as Config.Servers does ("addr:port", "addr"
// for port 53, or the path of a resolv.conf file whose nameserver lines
// are taken), or resolvConf (default /etc/resolv.conf) when entries is
// empty: the servers a Resolver with that Config asks, in order. The
// daemon exempts them from OE, so that its own key look-ups never wait
// for a negotiation that needs them.
func ServerList(entries []string, resolvConf string) ([]Server, error) {
	if len(entries) == 0 {
		entries = []string{cmp.Or(resolvConf, "/etc/resolv.conf")}
	}
	var out []Server
	for _, s := range entries {
		if strings.HasPrefix(s, "/") {
			cc, err := dns.ClientConfigFromFile(s)
			if err != nil {
				return nil, fmt.Errorf("dnskey: DNS servers from %s: %w", s, err)
			}
			if len(cc.Servers) == 0 {
				return nil, fmt.Errorf("dnskey: no nameserver lines in %s", s)
			}
			for _, ns := range cc.Servers {
				ap, err := netip.ParseAddrPort(net.JoinHostPort(ns, cc.Port))
				if err != nil {
					return nil, fmt.Errorf("dnskey: nameserver %q in %s: %w", ns, s, err)
				}
				out = append(out, Server{Addr: ap, File: s})
			}
			continue
		}
		if _, _, err := net.SplitHostPort(s); err != nil {
			s = net.JoinHostPort(s, "53")
		}
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return nil, fmt.Errorf("dnskey: DNS server %q: want an IP address[:port] or a resolv.conf path", s)
		}
		out = append(out, Server{Addr: ap})
	}
	return out, nil
}
