package xfrm

import (
	"context"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestExclusionPassesUnderBlock: an exclusion's pass policies are above a
// trap (here a block): ICMP to the peer passes while the exclusion is in
// place, and is blocked again when it goes (the UDP one staying); the kernel holds exactly an
// out and an in policy per exclusion, in the exclusion class.
func TestExclusionPassesUnderBlock(t *testing.T) {
	p := netnstest.NewPair(t, "xexc")
	d := open(t, p.A, Options{})
	ctx := context.Background()
	if err := d.SetTrap(ctx, kernel.Trap{Prefix: netip.MustParsePrefix("192.0.2.0/24"), Group: kernel.GroupBlock}); err != nil {
		t.Fatal(err)
	}
	ping := func() (string, error) {
		out, err := p.A.Command(ctx, "ping", "-c", "1", "-W", "2", p.B4.String()).CombinedOutput()
		return string(out), err
	}
	if out, err := ping(); err == nil {
		t.Fatalf("ping passed under a block trap:\n%s", out)
	}
	x := kernel.Exclusion{Proto: 1, Local: netip.MustParsePrefix("0.0.0.0/0"), Remote: netip.PrefixFrom(p.B4, 32)}
	// ping first connects a UDP socket to find its source address.
	probe := kernel.Exclusion{Proto: 17, Local: x.Local, Remote: x.Remote}
	if err := d.SetExclusions(ctx, []kernel.Exclusion{x, probe}); err != nil {
		t.Fatal(err)
	}
	if out, err := ping(); err != nil {
		t.Fatalf("ping under an ICMP exclusion failed: %v\n%s", err, out)
	}
	count := func() (out, in int) {
		pols, err := inspect(t, p.A).policies()
		if err != nil {
			t.Fatal(err)
		}
		for _, pol := range pols {
			if c, ours := classOf(DefaultPriorityBase, pol.Priority); ours && c == classExclusion && pol.Sel.Proto == 1 {
				switch pol.Dir {
				case dirOut:
					out++
				case dirIn:
					in++
				}
			}
		}
		return out, in
	}
	if o, i := count(); o != 1 || i != 1 {
		t.Errorf("exclusion policies: %d out, %d in, want 1 and 1", o, i)
	}
	// The same set again changes nothing; an empty one removes them.
	if err := d.SetExclusions(ctx, []kernel.Exclusion{x, probe}); err != nil {
		t.Fatal(err)
	}
	if o, i := count(); o != 1 || i != 1 {
		t.Errorf("after setting the same exclusion: %d out, %d in, want 1 and 1", o, i)
	}
	if err := d.SetExclusions(ctx, []kernel.Exclusion{probe}); err != nil {
		t.Fatal(err)
	}
	if o, i := count(); o+i != 0 {
		t.Errorf("after removing: %d out, %d in policies left", o, i)
	}
	if out, err := ping(); err == nil {
		t.Fatalf("ping passed after the exclusion was removed:\n%s", out)
	}
	if err := d.SetExclusions(ctx, []kernel.Exclusion{{Proto: 0, Local: x.Local, Remote: x.Remote}}); err == nil {
		t.Errorf("an exclusion without a protocol was accepted")
	}
}
