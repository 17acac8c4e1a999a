package userspace

import (
	"fmt"
	"net/netip"

	"github.com/oemesh/oemesh/kernel"
)

// An installed SA is also a policy: traffic to its remote selectors must
// enter the TUN device even when no trap routes it there — on a responder
// in clear-or-private (whose trap throws the prefix back to the main
// tables), or for a peer whose trap was removed. saRoutes counts the SA
// pairs that need each remote prefix routed into the TUN device; a rekey
// installs the new pair before deleting the old, so the count never drops
// to zero in between.

// addSARoutes routes p's remote selectors into the TUN device. d.routeMu
// is held (d.mu may be: a route costs a netlink round trip, and InstallSA
// adds it without).
func (d *Device) addSARoutes(p kernel.SAPair) error {
	if d.saRoutes == nil {
		d.saRoutes = make(map[netip.Prefix]int)
	}
	for _, pfx := range p.Remote {
		pfx = pfx.Masked()
		d.saRoutes[pfx]++
		if d.saRoutes[pfx] > 1 || d.router == nil { // no router: a unit test's bare device
			continue
		}
		if err := d.router.setTrap(pfx, kernel.GroupPrivate); err != nil {
			d.saRoutes[pfx]--
			return fmt.Errorf("route SA selector %s into %s: %w", pfx, d.cfg.TUNName, err)
		}
	}
	return nil
}

// removeSARoutes undoes addSARoutes: the last pair using a prefix gives it
// back to its trap (or to the main tables when it has none). d.routeMu
// is held, as for addSARoutes.
func (d *Device) removeSARoutes(remote []netip.Prefix) error {
	var first error
	for _, pfx := range remote {
		pfx = pfx.Masked()
		if d.saRoutes[pfx] == 0 {
			continue
		}
		d.saRoutes[pfx]--
		if d.saRoutes[pfx] > 0 {
			continue
		}
		delete(d.saRoutes, pfx)
		if d.router == nil {
			continue
		}
		var err error
		if g, ok := d.traps[pfx]; ok {
			err = d.router.setTrap(pfx, g)
		} else {
			err = d.router.removeTrap(pfx, kernel.GroupPrivate)
		}
		if err != nil && first == nil {
			first = fmt.Errorf("restore route for %s: %w", pfx, err)
		}
	}
	return first
}
