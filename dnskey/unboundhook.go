package dnskey

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// HookArgs are the four arguments unbound's ipsecmod module passes to its
// ipsecmod-hook, parsed. Unbound calls the hook once a validated (or
// unsigned, not bogus) IPSECKEY RRset exists at the name of an A or AAAA
// answer, with execv, so each argument arrives whole:
//
//  1. QNAME: the queried name in presentation form, with its final dot
//     ("b.example."); unbound passes only names of letters, digits, '-',
//     '_' and '.'.
//  2. TTL: the IPSECKEY RRset's TTL in decimal seconds ("300").
//  3. ADDRS: the A or AAAA RRset's addresses in presentation form,
//     separated by one space ("198.18.0.2 198.18.0.9").
//  4. IPSECKEYS: the IPSECKEY RRset's rdata in presentation form,
//     separated by one space ("10 0 2 . AQO... 20 1 4 198.18.0.5 kPz..."):
//     precedence, gateway type, algorithm, gateway ("." for type 0) and
//     the base64 key, which RFC 4025 §2.4 leaves out when the algorithm
//     is 0. Records unbound cannot print are left out.
type HookArgs struct {
	// Name is QNAME, fully qualified, in lower case.
	Name  string
	TTL   time.Duration
	Addrs []netip.Addr
	// Records are IPSECKEYS split into one rdata string per record, as
	// unbound printed them: what oemeshd is handed, and parses again.
	Records []string
}

// ParseHookArgs reads the four arguments of an ipsecmod-hook call (see
// HookArgs). It checks the form only; ParseIPSECKEYRdata reads each
// record.
func ParseHookArgs(args []string) (HookArgs, error) {
	if len(args) != 4 {
		return HookArgs{}, fmt.Errorf("unbound ipsecmod-hook arguments: want 4 (QNAME TTL ADDRS IPSECKEYS), got %d", len(args))
	}
	var h HookArgs
	name, err := canonicalName(args[0])
	if err != nil {
		return h, fmt.Errorf("QNAME: %w", err)
	}
	h.Name = name
	ttl, err := strconv.ParseUint(args[1], 10, 32)
	if err != nil {
		return h, fmt.Errorf("TTL %q: want decimal seconds (0-%d)", args[1], uint32(1<<32-1))
	}
	h.TTL = time.Duration(ttl) * time.Second
	if h.Addrs, err = parseAddrList(args[2]); err != nil {
		return h, fmt.Errorf("ADDRS: %w", err)
	}
	if h.Records, err = SplitIPSECKEYList(args[3]); err != nil {
		return h, fmt.Errorf("IPSECKEYS: %w", err)
	}
	return h, nil
}

// parseAddrList reads addresses separated by spaces.
func parseAddrList(s string) ([]netip.Addr, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return nil, errors.New("no addresses")
	}
	out := make([]netip.Addr, 0, len(fields))
	for _, f := range fields {
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" || a.IsUnspecified() {
			return nil, fmt.Errorf("%q is not an IPv4 or IPv6 address", f)
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

// SplitIPSECKEYList splits unbound's list of IPSECKEY rdata strings. The
// records and their fields are all separated by single spaces, so it goes
// by the fields: four fixed ones, then the key unless the algorithm is 0.
func SplitIPSECKEYList(s string) ([]string, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil, errors.New("no IPSECKEY records")
	}
	var out []string
	for i := 0; i < len(f); {
		if len(f)-i < 4 {
			return nil, fmt.Errorf("record %d: %q: want precedence, gateway type, algorithm and gateway", len(out)+1, strings.Join(f[i:], " "))
		}
		alg, err := strconv.ParseUint(f[i+2], 10, 8)
		if err != nil {
			return nil, fmt.Errorf("record %d: algorithm %q is not a number from 0 to 255", len(out)+1, f[i+2])
		}
		n := 5
		if alg == 0 {
			n = 4
		}
		if len(f)-i < n {
			return nil, fmt.Errorf("record %d: %q: algorithm %d without a public key", len(out)+1, strings.Join(f[i:], " "), alg)
		}
		out = append(out, strings.Join(f[i:i+n], " "))
		i += n
	}
	return out, nil
}

// ParseIPSECKEYRdata reads the rdata of an IPSECKEY record at owner in
// presentation form ("10 0 4 . base64") with the same rules as records
// from DNS (ParseIPSECKEY). The key is marked not Secure: nothing here
// says whether DNSSEC vouched for it.
func ParseIPSECKEYRdata(owner, rdata string) (PeerKey, error) {
	name, err := canonicalName(owner)
	if err != nil {
		return PeerKey{}, fmt.Errorf("IPSECKEY owner: %w", err)
	}
	if strings.ContainsAny(rdata, "\n;()\"") {
		return PeerKey{}, fmt.Errorf("IPSECKEY %q: newlines, comments, parentheses and quotes are not rdata", rdata)
	}
	rr, err := dns.NewRR(name + " 0 IN IPSECKEY " + rdata)
	if err != nil {
		return PeerKey{}, fmt.Errorf("IPSECKEY %q: %w", rdata, err)
	}
	ik, ok := rr.(*dns.IPSECKEY)
	if !ok {
		return PeerKey{}, fmt.Errorf("IPSECKEY %q: not an IPSECKEY record", rdata)
	}
	k, err := ParseIPSECKEY(ik)
	if err != nil {
		return PeerKey{}, fmt.Errorf("IPSECKEY %q: %w", rdata, err)
	}
	k.Name = name
	k.Record = ik.String()
	return k, nil
}
