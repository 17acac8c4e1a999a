package conn

import (
	"net/netip"

	"github.com/oemesh/oemesh/ike"
)

// ForPeer counts the conns a peer at addr proving id may be.
func (c *Conns) ForPeer(addr netip.Addr, id ike.Identity) int { return len(c.forPeer(nil, addr, id)) }
