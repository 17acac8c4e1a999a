package conn

import (
	"crypto"
	"fmt"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// Conn is a configured connection (a FreeS/WAN `conn`): a fixed tunnel to
// a known peer (or to road warriors, Remote invalid), beside OE. The most
// specific match wins between conns and policy groups: a conn's remote
// subnet more specific than (or as specific as) a group's prefix takes the
// traffic.
type Conn struct {
	Name string
	// Local is our address; Remote the peer's, invalid for %any.
	Local, Remote netip.Addr
	// LocalSubnets and RemoteSubnets are the client networks; empty means
	// the side's own address (host to host).
	LocalSubnets, RemoteSubnets []netip.Prefix
	// RemoteID is the identity the peer must prove; zero: its address.
	RemoteID ike.Identity
	// LocalID is the identity this conn claims with pubkey and PSK
	// authentication, as initiator and as responder (LocalIDFor); zero:
	// the daemon's (ike.Credentials.ID).
	LocalID ike.Identity
	Auth    ike.AuthKind
	// RemoteKeys are the peer's public keys from a file; nil with pubkey
	// authentication means its key is looked up in DNS, as OE does.
	RemoteKeys []crypto.PublicKey
	// Mode is tunnel or transport; Add refuses the zero ModeUnset.
	Mode ike.Mode
	// IKE and ESP override the engine's proposals when their Protocol
	// is set.
	IKE, ESP ike.Policy
	// KeyingTries bounds negotiation attempts (0: forever).
	KeyingTries int
	// Lifetime is the CHILD SAs' lifetime (0: the engine's): with Rekey
	// they are rekeyed a tenth of it before it ends, without they are
	// deleted when it ends (and come back only by trap or auto=start).
	Lifetime time.Duration
	Rekey    bool
	// IKELifetime is the IKE SA's lifetime (0: the engine's): rekeyed a
	// tenth of it before its end, or deleted at its end without Rekey.
	IKELifetime time.Duration
	// DPDInterval > 0 turns on liveness checks (the engine's Liveness);
	// DPDAction says what a dead peer leaves: "clear", "hold" or
	// "restart".
	DPDInterval time.Duration
	DPDAction   string
	// Auto: "add" (respond only), "route" (trap the subnets) or "start"
	// (trap, initiate now, and keep the tunnel up).
	Auto      string
	UniqueIDs bool
	// Updown is a script run on up, down, route and unroute with the
	// FreeS/WAN PLUTO_* environment; UpdownTimeout bounds it (default
	// 10 s).
	Updown        string
	UpdownTimeout time.Duration
	// RetryBase is the pause after a failed attempt, doubled each time up
	// to a minute (default 1 s).
	RetryBase time.Duration
	// Source says where the conn was defined, for status.
	Source string
}

// localNets and remoteNets are the conn's selectors as prefixes.
func (c *Conn) localNets() []netip.Prefix {
	if len(c.LocalSubnets) > 0 {
		return c.LocalSubnets
	}
	if c.Local.IsValid() {
		return []netip.Prefix{netip.PrefixFrom(c.Local, c.Local.BitLen())}
	}
	return nil
}

func (c *Conn) remoteNets() []netip.Prefix {
	if len(c.RemoteSubnets) > 0 {
		return c.RemoteSubnets
	}
	if c.Remote.IsValid() {
		return []netip.Prefix{netip.PrefixFrom(c.Remote, c.Remote.BitLen())}
	}
	return nil
}

// hostToHost reports whether neither side has client subnets.
func (c *Conn) hostToHost() bool { return len(c.LocalSubnets) == 0 && len(c.RemoteSubnets) == 0 }

// shadows reports two conns that would take each other's traffic.
func shadows(a, b *Conn) error {
	if !a.Remote.IsValid() && !b.Remote.IsValid() && !ike.SameIdentity(a.RemoteID, b.RemoteID) {
		return nil
	}
	for _, x := range a.remoteNets() {
		for _, y := range b.remoteNets() {
			if !x.Overlaps(y) {
				continue
			}
			for _, l1 := range a.localNets() {
				for _, l2 := range b.localNets() {
					if l1.Overlaps(l2) {
						return fmt.Errorf("oe: conn %s: remote %s overlaps %s of conn %s: one would shadow the other", b.Name, y, x, a.Name)
					}
				}
			}
		}
	}
	return nil
}
