package conn

import (
	"slices"
	"time"

	"github.com/oemesh/oemesh/oe/tunnel"
)

// Status is one conn as `oemesh conn list` and `oemesh status` show it.
type Status struct {
	Name          string   `json:"name"`
	State         string   `json:"state"`
	Routed        bool     `json:"routed"`
	Auto          string   `json:"auto"`
	Auth          string   `json:"auth"`
	Local         string   `json:"local"`
	Remote        string   `json:"remote"`
	LocalSubnets  []string `json:"local_subnets"`
	RemoteSubnets []string `json:"remote_subnets"`
	Tunnels       int      `json:"tunnels"`
	Peers         []string `json:"peers,omitempty"`
	Tries         int      `json:"tries"`
	KeyingTries   int      `json:"keying_tries"`
	LastError     string   `json:"last_error,omitempty"`
	LastUpdown    string   `json:"last_updown,omitempty"`
	Since         string   `json:"since"`
	Source        string   `json:"source,omitempty"`
}

// List returns the configured conns with their state, in the order they
// were added.
func (c *Conns) List() []Status {
	var out []Status
	now := c.cfg.Now()
	for _, cs := range c.list() {
		c.mu.Lock()
		s := Status{
			Name: cs.Name, State: cs.state, Routed: cs.routed, Auto: cs.Auto, Auth: tunnel.AuthName(cs.Auth),
			Local: cs.Local.String(), Remote: "%any", Tunnels: len(cs.tunnels), Tries: cs.tries,
			KeyingTries: cs.KeyingTries, LastError: cs.lastErr, LastUpdown: cs.lastUpdown,
			Since: now.Sub(cs.since).Round(time.Second).String(), Source: cs.Source,
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
