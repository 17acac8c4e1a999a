package addrpool

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
)

// Range is an inclusive range of addresses of one family.
type Range struct {
	First, Last netip.Addr
}

// ParseRange parses a pool range as operators write it:
//
//   - "100.64.0.1-100.64.0.254": the addresses from the first to the last;
//   - "100.64.0.0/24": the prefix without its network and broadcast
//     addresses (100.64.0.1 to 100.64.0.254);
//   - "fd00:64::/112": the IPv6 prefix without its first address, the
//     subnet-router anycast address;
//   - "100.64.0.7": one address.
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	if first, last, ok := strings.Cut(s, "-"); ok {
		a, err := netip.ParseAddr(strings.TrimSpace(first))
		if err != nil {
			return Range{}, fmt.Errorf("addrpool: range %q: first address: %w", s, err)
		}
		b, err := netip.ParseAddr(strings.TrimSpace(last))
		if err != nil {
			return Range{}, fmt.Errorf("addrpool: range %q: last address: %w", s, err)
		}
		return newRange(s, a, b)
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return Range{}, fmt.Errorf("addrpool: range %q: %w", s, err)
		}
		return prefixRange(s, p.Masked())
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return Range{}, fmt.Errorf("addrpool: range %q: want first-last, a prefix or an address: %w", s, err)
	}
	return newRange(s, a, a)
}

func newRange(s string, a, b netip.Addr) (Range, error) {
	a, b = a.Unmap(), b.Unmap()
	switch {
	case a.Zone() != "" || b.Zone() != "":
		return Range{}, fmt.Errorf("addrpool: range %q: addresses with a zone", s)
	case a.Is4() != b.Is4():
		return Range{}, fmt.Errorf("addrpool: range %q: %v and %v are of different families", s, a, b)
	case a.Compare(b) > 0:
		return Range{}, fmt.Errorf("addrpool: range %q: %v comes after %v", s, a, b)
	case a.IsUnspecified():
		return Range{}, fmt.Errorf("addrpool: range %q: starts at the unspecified address", s)
	}
	return Range{First: a, Last: b}, nil
}

func prefixRange(s string, p netip.Prefix) (Range, error) {
	first, last := p.Addr(), lastAddr(p)
	switch {
	case first.Is4() && p.Bits() < 31:
		first, last = first.Next(), last.Prev() // the network and broadcast addresses
	case first.Is6() && p.Bits() < 128:
		first = first.Next() // the subnet-router anycast address
	}
	if !first.IsValid() || !last.IsValid() || first.Compare(last) > 0 {
		return Range{}, fmt.Errorf("addrpool: range %q: no usable addresses", s)
	}
	return newRange(s, first, last)
}

// lastAddr returns the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Contains reports whether a is in the range.
func (r Range) Contains(a netip.Addr) bool {
	a = a.Unmap()
	return a.Is4() == r.First.Is4() && a.Compare(r.First) >= 0 && a.Compare(r.Last) <= 0
}

// Size is the number of addresses in the range, math.MaxUint64 for
// IPv6 ranges larger than that.
func (r Range) Size() uint64 {
	f, l := r.First.As16(), r.Last.As16()
	var hiF, hiL, loF, loL uint64
	for i := 0; i < 8; i++ {
		hiF, hiL = hiF<<8|uint64(f[i]), hiL<<8|uint64(l[i])
		loF, loL = loF<<8|uint64(f[8+i]), loL<<8|uint64(l[8+i])
	}
	if hiL != hiF {
		if hiL-hiF > 1 || loL >= loF {
			return math.MaxUint64
		}
	}
	d := loL - loF // wraps correctly when hiL = hiF+1 and loL < loF
	if d == math.MaxUint64 {
		return d
	}
	return d + 1
}

func (r Range) String() string {
	if r.First == r.Last {
		return r.First.String()
	}
	return r.First.String() + "-" + r.Last.String()
}
