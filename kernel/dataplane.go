package kernel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Dataplane is what the orchestrator (package oe) drives. Both backends,
// kernel/xfrm and kernel/userspace, implement it, and kernel/fake records
// calls for tests. Every method is safe for concurrent use.
//
// Everything a Dataplane installs is marked as ours; Close and the start-up
// reconcile remove exactly that and nothing else.
type Dataplane interface {
	// Name is the backend's name ("xfrm", "userspace", "fake").
	Name() string

	// SetTrap makes traffic from this host to prefix raise an Acquire
	// (group private, private-or-clear), or be dropped (block), or pass
	// untouched (clear, which overrides a less specific trap). Setting a trap
	// for a prefix that already has one replaces it.
	SetTrap(ctx context.Context, t Trap) error
	// RemoveTrap removes the trap for exactly this prefix.
	RemoveTrap(ctx context.Context, prefix netip.Prefix) error

	// Acquires delivers one event per new flow that hit a trap and has no SA.
	// The channel is closed by Close.
	Acquires() <-chan Acquire
	// Expires delivers soft and hard expiry of SAs and shunts.
	// The channel is closed by Close.
	Expires() <-chan Expire

	// AllocSPI reserves an inbound SPI for an SA from src to dst (dst is us).
	// The reservation lapses if InstallSA does not use it in time.
	AllocSPI(ctx context.Context, src, dst netip.Addr) (uint32, error)

	// InstallSA installs (or updates, for a rekey) an inbound and an outbound
	// SA with the policies that steer the flow into them, and releases any
	// packets held for the flow.
	InstallSA(ctx context.Context, p SAPair) error
	// DeleteSA removes both SAs of the pair (and its policies, unless
	// KeepPolicy is set because a rekeyed pair now carries the flow).
	DeleteSA(ctx context.Context, id SAPairID, opts DeleteOptions) error
	// SACounters reports traffic counters and last use for one SA pair.
	SACounters(ctx context.Context, id SAPairID) (Counters, error)

	// SetShunt installs a pass, drop or hold shunt for a flow with a lifetime;
	// when the lifetime ends the shunt is removed, the trap is back, and an
	// Expire of kind ExpireShunt is sent.
	SetShunt(ctx context.Context, s Shunt) error
	// RemoveShunt removes a shunt before its lifetime ends.
	RemoveShunt(ctx context.Context, f Flow) error
	// Shunts lists the shunts in place.
	Shunts(ctx context.Context) ([]Shunt, error)

	// SetExclusions replaces the port exclusions: flows they select pass
	// in the clear both ways, before every SA, shunt and trap (a tunnel
	// to the peer does not carry them). An empty list removes them all.
	SetExclusions(ctx context.Context, xs []Exclusion) error

	// Close removes everything this data plane installed (unless configured
	// to stay fail-closed) and closes the event channels.
	Close() error
}

//go:generate go tool stringer -type=Group -linecomment

// Group is the policy group a trap stands for; it decides what the trap does.
type Group uint8

// Groups; the line comments are the names String gives (go generate,
// stringer), policygroups' file names.
const (
	GroupClear          Group = iota // clear
	GroupClearOrPrivate              // clear-or-private
	GroupPrivateOrClear              // private-or-clear
	GroupPrivate                     // private
	GroupBlock                       // block
)

// Trap is one prefix and what to do with traffic to it.
type Trap struct {
	Prefix netip.Prefix
	Group  Group
}

// Exclusion selects flows that stay clear whatever the traps and SAs say
// (a line of Libreswan's portexcludes.conf): packets from Local to Remote
// and back. Local and Remote are prefixes of one family (0.0.0.0/0 or ::/0
// for any address); a port of 0 is any port.
type Exclusion struct {
	Proto                 uint8 // never 0
	Local, Remote         netip.Prefix
	LocalPort, RemotePort uint16
}

// Check reports whether x is an exclusion a data plane can install.
func (x Exclusion) Check() error {
	switch {
	case x.Proto == 0:
		return fmt.Errorf("exclusion %v: no protocol", x)
	case !x.Local.IsValid() || !x.Remote.IsValid() || x.Local.Addr().Is4() != x.Remote.Addr().Is4():
		return fmt.Errorf("exclusion %v: not two prefixes of one family", x)
	}
	return nil
}

// Outbound reports whether a packet from this host, src:sport to
// dst:dport with protocol proto, is of the flows x selects; Inbound, a
// packet to it.
func (x Exclusion) Outbound(proto uint8, src, dst netip.Addr, sport, dport uint16) bool {
	return proto == x.Proto && x.Local.Contains(src) && x.Remote.Contains(dst) &&
		(x.LocalPort == 0 || x.LocalPort == sport) && (x.RemotePort == 0 || x.RemotePort == dport)
}

// Inbound is Outbound for a packet from the peer.
func (x Exclusion) Inbound(proto uint8, src, dst netip.Addr, sport, dport uint16) bool {
	return x.Outbound(proto, dst, src, dport, sport)
}

// Flow is the exact flow an acquire or shunt names.
type Flow struct {
	Src, Dst netip.Addr
	Proto    uint8 // 0 = any
	SrcPort  uint16
	DstPort  uint16
}

// Acquire is raised by the first packet of a flow that hit a trap.
type Acquire struct {
	Flow  Flow
	Trap  netip.Prefix // the trap prefix that caught it
	Group Group
	Time  time.Time
}

//go:generate go tool stringer -type=Mode -linecomment

// Mode is ESP transport or tunnel mode. Its zero value, ModeUnset, is
// invalid: the data planes refuse an SAPair that forgets to choose a mode
// rather than read it as one. ike.Mode has the same values.
type Mode uint8

// Modes.
const (
	ModeUnset     Mode = iota // unset
	ModeTransport             // transport
	ModeTunnel                // tunnel
)

// Valid reports whether m is transport or tunnel.
func (m Mode) Valid() bool { return m == ModeTransport || m == ModeTunnel }

//go:generate go tool stringer -type=AEAD -linecomment

// AEAD names the ESP AEAD transform.
type AEAD uint8

// AEADs: AES-GCM with a 16-octet ICV (RFC 4106, key = 16 or 32 bytes + 4
// bytes salt) and ChaCha20-Poly1305 (RFC 7634, key = 32 bytes + 4 bytes
// salt). The line comments are the names String gives.
const (
	AESGCM16         AEAD = iota + 1 // aes-gcm-16
	ChaCha20Poly1305                 // chacha20-poly1305
)

// SA is one direction of an ESP SA.
type SA struct {
	SPI    uint32
	Src    netip.Addr // outer source
	Dst    netip.Addr // outer destination
	AEAD   AEAD
	Key    []byte // the key including the 4-byte salt at its end (RFC 4106 §8.1)
	ESN    bool
	Replay uint32 // replay window in packets (inbound); 0 means the default
}

// Encap is ESP-in-UDP (RFC 3948) encapsulation, when NAT-T is in use.
type Encap struct {
	SrcPort, DstPort uint16
}

// Lifetime is the soft/hard limits of an SA pair. Zero fields are unlimited.
type Lifetime struct {
	SoftBytes, HardBytes uint64
	SoftAdd, HardAdd     time.Duration
}

// SAPairID names an installed SA pair: the inbound and outbound SPIs with
// the peer address.
type SAPairID struct {
	Peer   netip.Addr
	InSPI  uint32
	OutSPI uint32
}

// SAPair is the two SAs of one CHILD SA with the selectors they carry.
type SAPair struct {
	In, Out  SA
	Mode     Mode
	Local    []netip.Prefix // our traffic selector (transport: our address/32)
	Remote   []netip.Prefix // the peer's traffic selector
	Encap    *Encap         // nil unless NAT-T
	Lifetime Lifetime
	ReqID    uint32
	// DeferOutbound is set on the responder's side of a CHILD SA rekey:
	// the new pair's outbound SA must not carry traffic until the peer is
	// heard on its inbound SA (or the pair it replaces is deleted), since
	// the initiator installs the new inbound SA only when our answer
	// reaches it (RFC 7296 §2.8).
	DeferOutbound bool
	// CAT, when set, translates the host's own traffic to the address
	// the peer leased us (client address translation). nil: none.
	CAT *CAT
}

// CAT is client address translation, Libreswan's leftcat=yes: the CHILD
// SA's local selector is an address the responder leased us by mode
// config (IKEv2 CP), not one of the host's, typically because we are
// behind a NAT. The data plane rewrites the source of the host's own
// packets from Host to Leased before sealing them, and the destination
// of opened packets from Leased back to Host, fixing the IP header and
// the TCP, UDP and ICMPv6 checksums; every other packet keeps its
// addresses. It needs tunnel mode, and Leased must be the pair's one
// local selector (an address of Host's family). A data plane that
// cannot translate refuses the pair with an error wrapping
// ErrCATUnsupported.
type CAT struct {
	// Host is the address the host's own packets to the peer carry: the
	// outer source of the SA.
	Host netip.Addr
	// Leased is the address the peer leased us.
	Leased netip.Addr
}

// ErrCATUnsupported is wrapped by the error of a data plane that cannot
// do client address translation (SAPair.CAT).
var ErrCATUnsupported = errors.New("client address translation (CAT) is not supported by this data plane")

// Check reports whether c fits a pair of mode with local selectors local.
func (c *CAT) Check(mode Mode, local []netip.Prefix) error {
	switch {
	case !c.Host.IsValid() || !c.Leased.IsValid() || c.Host.Is4() != c.Leased.Is4():
		return fmt.Errorf("CAT %s → %s: not two addresses of one family", c.Host, c.Leased)
	case mode != ModeTunnel:
		return fmt.Errorf("CAT %s → %s: needs tunnel mode, not %v", c.Host, c.Leased, mode)
	case len(local) != 1 || local[0] != netip.PrefixFrom(c.Leased, c.Leased.BitLen()):
		return fmt.Errorf("CAT %s → %s: the local selectors %v are not the leased address alone", c.Host, c.Leased, local)
	}
	return nil
}

// ID returns the pair's identifier.
func (p SAPair) ID() SAPairID {
	return SAPairID{Peer: p.Out.Dst, InSPI: p.In.SPI, OutSPI: p.Out.SPI}
}

// DeleteOptions tunes DeleteSA.
type DeleteOptions struct {
	// KeepPolicy keeps the policies when a newer pair (a rekey) carries the flow.
	KeepPolicy bool
}

// Counters are traffic counters of one SA pair.
type Counters struct {
	InBytes, OutBytes     uint64
	InPackets, OutPackets uint64
	LastUse               time.Time         // zero if never used
	Dropped               map[string]uint64 // by reason, where the backend counts them
}

//go:generate go tool stringer -type=ShuntKind -linecomment

// ShuntKind is what a shunt does with a flow.
type ShuntKind uint8

// Shunt kinds; the line comments are the names String gives.
const (
	ShuntPass ShuntKind = iota + 1 // pass
	ShuntDrop                      // drop
	ShuntHold                      // hold
)

// Shunt is a pass, drop or hold decision for a flow, for a while.
type Shunt struct {
	Flow     Flow
	Kind     ShuntKind
	Lifetime time.Duration
	Reason   string    // shown by `oemesh shunts`
	Expires  time.Time // filled in by the backend when listing
}

//go:generate go tool stringer -type=ExpireKind -linecomment

// ExpireKind says what expired.
type ExpireKind uint8

// What expires. ExpireSoft: an SA reached its soft limit (rekey).
// ExpireHard: an SA reached its hard limit (it is gone). ExpireShunt: a
// shunt's lifetime ended (the trap is back). ExpireSPI: an SPI reserved by
// AllocSPI lapsed before InstallSA used it (the negotiation took too
// long); SA.Peer and SA.InSPI name it. The line comments are the names
// String gives.
const (
	ExpireSoft  ExpireKind = iota + 1 // soft
	ExpireHard                        // hard
	ExpireShunt                       // shunt
	ExpireSPI                         // spi
)

// Expire reports an SA or shunt reaching a limit.
type Expire struct {
	Kind ExpireKind
	SA   SAPairID // for ExpireSoft and ExpireHard
	SPI  uint32   // the SPI that expired
	Flow Flow     // for ExpireShunt
	Time time.Time
}
