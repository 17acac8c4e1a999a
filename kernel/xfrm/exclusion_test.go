package xfrm

import (
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

// TestExclusionAboveSA: the widest exclusion is preferred to the most
// specific SA policy (a host pair with protocol and ports), so a tunnel
// never takes an excluded flow.
func TestExclusionAboveSA(t *testing.T) {
	d := &Dataplane{opts: Options{PriorityBase: DefaultPriorityBase}}
	x := kernel.Exclusion{Proto: 6, Local: netip.MustParsePrefix("::/0"), Remote: netip.MustParsePrefix("::/0"), RemotePort: 22}
	pols := d.exclusionPolicies(x)
	host := selector{Src: netip.MustParsePrefix("2001:db8::1/128"), Dst: netip.MustParsePrefix("2001:db8::2/128"), Proto: 6, SrcPort: 1, DstPort: 22}
	sa := priority(DefaultPriorityBase, classSA, host)
	for _, p := range pols {
		if p.Priority >= sa || p.Action != actionAllow {
			t.Errorf("exclusion policy %s dir %d: priority %#x action %d, want below the SA's %#x and allow", p.Sel, p.Dir, p.Priority, p.Action, sa)
		}
		if c, ours := classOf(DefaultPriorityBase, p.Priority); !ours || c != classExclusion {
			t.Errorf("exclusion policy %s: class %d (ours %v)", p.Sel, c, ours)
		}
	}
	out, in := pols[0], pols[1]
	if out.Dir != dirOut || out.Sel.DstPort != 22 || out.Sel.SrcPort != 0 || in.Dir != dirIn || in.Sel.SrcPort != 22 || in.Sel.DstPort != 0 {
		t.Errorf("selectors: out %s dir %d, in %s dir %d", out.Sel, out.Dir, in.Sel, in.Dir)
	}
}
