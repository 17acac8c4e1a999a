package conn

import (
	"net/netip"

	"github.com/oemesh/oemesh/ike"
)

// ForPeer counts the conns a peer at addr proving id may be.
func (c *Conns) ForPeer(addr netip.Addr, id ike.Identity) int { return len(c.forPeer(nil, addr, id)) }

// IKETimers counts the IKE lifetime timers armed for conn name.
func (c *Conns) IKETimers(name string) int {
	cs, ok := c.get(name)
	if !ok {
		return -1
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(cs.ikeTimers)
}
