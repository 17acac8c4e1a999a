package xfrm

import (
	"context"
	"fmt"

	"github.com/oemesh/oemesh/kernel"
)

// XFRM policies live in the kernel, so they outlive the daemon by
// themselves: after a SIGKILL the trap policies keep trapping (a packet
// without an SA raises an acquire nobody answers and is dropped) and the
// SA policies keep their SAs (established tunnels go on carrying ESP).
// What must not open a gap is the restart: Reconcile removes SAs, SA and
// shunt policies, but adopts the trap policies, which SetTrap then
// replaces in place; RemoveStaleTraps removes those the new policy no
// longer has. Close with FailClosed replaces each trap by its stopped
// form (stoppedTrap).

// stoppedTrap is the trap that stands for t while no daemon runs:
// fail_closed keeps private and block prefixes blocked; the other groups
// (private-or-clear too: it falls back to clear when negotiation is
// impossible) pass, so a clear prefix inside a private one stays clear.
func stoppedTrap(t kernel.Trap) kernel.Trap {
	if t.Group == kernel.GroupPrivate || t.Group == kernel.GroupBlock {
		return kernel.Trap{Prefix: t.Prefix, Group: kernel.GroupBlock}
	}
	return kernel.Trap{Prefix: t.Prefix, Group: kernel.GroupClear}
}

// isTrapPolicy says whether an owned policy is a trap's (outbound, in the
// trap class of our band).
func (d *Dataplane) isTrapPolicy(k polKey, p policy) bool {
	class, ours := classOf(d.opts.PriorityBase, p.Priority)
	return ours && class == classTrap && k.Dir == dirOut
}

// adopt takes over a trap policy an earlier run left: put then updates it
// in place, and until then it is stale.
func (d *Dataplane) adopt(p policy) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := polKey{p.Sel, p.Dir}
	if _, mine := d.owned[k]; mine {
		return // set by this run (Reconcile called again): not stale
	}
	p.Index = 0
	d.owned[k] = p
	d.stale[k] = true
}

// RemoveStaleTraps removes the trap policies an earlier run left for
// prefixes that no SetTrap named since New: the daemon calls it once its
// policy is loaded. Until then they keep blocking, which is the safe side.
func (d *Dataplane) RemoveStaleTraps(_ context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return 0, err
	}
	n := 0
	for k := range d.stale {
		if err := d.del(k.Sel, k.Dir); err != nil {
			return n, fmt.Errorf("xfrm: remove stale trap %s: %w", k.Sel, err)
		}
		n++
	}
	return n, nil
}
