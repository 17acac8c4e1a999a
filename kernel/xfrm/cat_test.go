package xfrm

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

// xfrm does not translate addresses yet: a pair with CAT is refused with
// an error that says so (kernel.ErrCATUnsupported), before anything is
// installed.
func TestCATRefused(t *testing.T) {
	a, b, leased := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("100.64.0.1")
	p := kernel.SAPair{
		In:    kernel.SA{SPI: 0x1001, Src: b, Dst: a},
		Out:   kernel.SA{SPI: 0x2002, Src: a, Dst: b},
		Mode:  kernel.ModeTunnel,
		Local: []netip.Prefix{netip.PrefixFrom(leased, 32)}, Remote: []netip.Prefix{netip.PrefixFrom(b, 32)},
		CAT: &kernel.CAT{Host: a, Leased: leased},
	}
	if err := checkPair(&p); !errors.Is(err, kernel.ErrCATUnsupported) {
		t.Fatalf("checkPair with CAT: %v, want ErrCATUnsupported", err)
	}
}
