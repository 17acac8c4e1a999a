package conn

import (
	"slices"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// Status is one conn's state, as `oemesh conn list` and `oemesh status`
// show it. It is plain data: the control API's view of it (and its JSON)
// is built in cmd/oemeshd.
type Status struct {
	Name string
	// State is where the conn is in its life.
	State State
	// Routed is true while the conn's traps are in the data plane.
	Routed bool
	// Auto is the conn's auto= setting: add, route, start or ignore.
	Auto string
	// Auth is how we authenticate to the conn's peers.
	Auth ike.AuthKind
	// Local is our outer address; Remote the peer's, or "%any" for a
	// road-warrior conn.
	Local, Remote string
	// LocalSubnets and RemoteSubnets are the protected networks (the
	// outer hosts for a host-to-host conn).
	LocalSubnets, RemoteSubnets []string
	// Tunnels counts the installed CHILD SA pairs.
	Tunnels int
	// Peers lists the peers with a tunnel up, as "ID at ADDRESS".
	Peers []string
	// Tries counts the attempts of the current keying round; KeyingTries
	// is the conn's limit (0: no limit).
	Tries, KeyingTries int
	// LastError is the last negotiation's failure; LastUpdown the last
	// updown script's failure.
	LastError, LastUpdown string
	// Since is how long the conn has been in State.
	Since time.Duration
	// Source is the file (and line) the conn came from.
	Source string
}

// List returns the configured conns with their state, in the order they
// were added.
func (c *Conns) List() []Status {
	var out []Status
	now := c.cfg.Now()
	for _, cs := range c.list() {
		c.mu.Lock()
		s := Status{
			Name: cs.Name, State: cs.state, Routed: cs.routed, Auto: cs.Auto, Auth: cs.Auth,
			Local: cs.Local.String(), Remote: "%any", Tunnels: len(cs.tunnels), Tries: cs.tries,
			KeyingTries: cs.KeyingTries, LastError: cs.lastErr, LastUpdown: cs.lastUpdown,
			Since: now.Sub(cs.since), Source: cs.Source,
		}
		if cs.Remote.IsValid() {
			s.Remote = cs.Remote.String()
		}
		for _, p := range cs.localNets() {
			s.LocalSubnets = append(s.LocalSubnets, p.String())
		}
		for _, p := range cs.remoteNets() {
			s.RemoteSubnets = append(s.RemoteSubnets, p.String())
		}
		for _, t := range cs.tunnels {
			if p := t.peerID.String() + " at " + t.peer.String(); !slices.Contains(s.Peers, p) {
				s.Peers = append(s.Peers, p)
			}
		}
		slices.Sort(s.Peers)
		c.mu.Unlock()
		out = append(out, s)
	}
	return out
}
