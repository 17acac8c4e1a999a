package conn_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// TestConnChildUpCostFlat: a conn with remote %any serves many peers
// that prove one ID (unique_ids off, as for road warriors sharing a
// credential, or a load generator). What the conns do when one more
// tunnel comes up must not grow with the tunnels and SAs they hold:
// OnChildUp once copied all the conn's tunnels and, for each, walked
// every SA the engine held (an SAInfo each), O(tunnels × SAs) per
// handshake, and oemeshd's CPU per handshake tripled over 5,000
// handshakes at 32 in flight. The allocations of one more tunnel's hook
// count the work: with 10 and with 160 live IKE SAs they must be the
// same, give or take the tables' growth.
func TestConnChildUpCostFlat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := newRoadWarriors(t, ctx, nil)
	gw := r.gw
	peers := 0
	next := 0 // the synthetic tunnels hook added
	// up brings the gateway to n live IKE SAs, each from its own road
	// warrior address, all proving roadWarriorID.
	up := func(n int) {
		for ; peers < n; peers++ {
			r.connect(t, ctx, netip.AddrFrom4([4]byte{198, 18, byte(peers >> 8), byte(peers)}))
		}
		oetest.WaitFor(t, "the gateway's conn holds every tunnel", func() bool { return r.tunnels() == n+next })
	}
	// hook is the cost of one more tunnel's hook: a CHILD SA from a new
	// address, in the table as the conn's, handed to OnChildUp.
	spi := uint32(0x7f000000)
	hook := func() float64 {
		return testing.AllocsPerRun(20, func() {
			spi++
			next++
			addr := netip.AddrFrom4([4]byte{198, 19, byte(next >> 8), byte(next)})
			gw.conns.OnChildUp(gw.rwTunnel(spi, addr, ike.SAID{}, roadWarriorID))
		})
	}
	up(10)
	few := hook()
	up(160)
	many := hook()
	t.Logf("allocations per hook: %.1f with 10 live SAs, %.1f with 160", few, many)
	if many > few+4 {
		t.Errorf("one more tunnel's OnChildUp allocates %.1f times with 160 live SAs, %.1f with 10: its work grows with what the conns hold", many, few)
	}
}
