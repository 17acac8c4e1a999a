package oe

import (
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/tunnel"
)

//go:generate go tool stringer -type=NullAuth -linecomment

// NullAuth says when unauthenticated OE (RFC 7619) is used.
type NullAuth uint8

const (
	// NullFallback: authenticate with DNS keys; when the peer has no
	// usable key (none, or unsigned under dns.require_dnssec), try NULL
	// authentication, as Libreswan's OE does — for private as for
	// private-or-clear: anonymous encryption is still no clear text
	// (docs/dnssec.md). A DNS failure never leads to NULL.
	NullFallback NullAuth = iota // fallback
	// NullOff: never use or accept NULL authentication.
	NullOff // off
	// NullOnly: always use NULL authentication; DNS is not consulted.
	NullOnly // only
)

// ParseNullAuth reads the oe.null_auth setting.
func ParseNullAuth(s string) (NullAuth, error) {
	switch s {
	case "fallback":
		return NullFallback, nil
	case "off":
		return NullOff, nil
	case "only":
		return NullOnly, nil
	}
	return 0, fmt.Errorf("oe.null_auth %q: want fallback, off or only", s)
}

// Config tunes the orchestrator. Zero values take the documented defaults.
type Config struct {
	NullAuth NullAuth
	// NegotiationShunt is what a flow's packets do while it negotiates:
	// kernel.ShuntHold (the data plane queues them, default) or
	// kernel.ShuntPass (they go out in the clear until the SA is up;
	// private-or-clear only: a flow in group private is always held).
	NegotiationShunt kernel.ShuntKind
	// ShuntLifetime is how long a failure shunt lasts (default 15m).
	ShuntLifetime time.Duration
	// IdleTimeout deletes tunnels that carried nothing for this long
	// (default 10m).
	IdleTimeout time.Duration
	// NegotiationTimeout bounds one OE attempt, DNS and IKE together
	// (default 30s).
	NegotiationTimeout time.Duration
	// GatewayFor lists the client networks this host is the IPsec gateway
	// for (its DNS records name it as their gateway): as responder it
	// accepts traffic selectors inside them in tunnel mode.
	GatewayFor []netip.Prefix
	// IKEPort is the peers' IKE port (default 500).
	IKEPort uint16
	// MaxNegotiations bounds concurrent negotiations (default 1024); an
	// acquire beyond it gets the failure shunt at once.
	MaxNegotiations int
	// ResponderProbe: a CHILD SA we installed as responder that has
	// received nothing this long after it came up makes us ask its peer
	// whether it is alive, and delete the SAs when it does not answer
	// within ResponderProbeAnswer (default 2 s). It catches initiators
	// that gave up half-way without a word, whose replies we would
	// otherwise encrypt into nothing. Zero: never (oemeshd's default is
	// 5 s).
	ResponderProbe, ResponderProbeAnswer time.Duration
	// ShutdownTimeout bounds how long Close waits for peers to answer
	// our Deletes (default 1 s).
	ShutdownTimeout time.Duration
	// Clock defaults to the system clock.
	Clock  clock.Clock
	Logger *slog.Logger

	// Bindings are the addresses that name look-ups bound to forward
	// names (dnskey.Bindings); nil: none. A negotiation to a bound
	// address uses the name's keys and expects the identity @name, and
	// makes no reverse look-up.
	Bindings BindingSource

	// CertTrust, when set, makes OE to a destination without a usable
	// key in DNS certificate OE (certoe.go): the responder must present
	// a certificate that it vouches for and that names the destination
	// (oe.trust_certificates). nil: off, the destination gets NULL OE
	// as NullAuth says.
	CertTrust CertTrust

	// OnOutcome, when set, is told how each negotiation ended, once it
	// has (oemeshd's negotiation time metrics). It must not block.
	OnOutcome func(Outcome)

	// Tunnels is the tunnel table OE shares with the configured conns
	// (oe/conn); nil: a table of its own.
	Tunnels *tunnel.Table
}

func (c *Config) setDefaults() {
	if c.NegotiationShunt == 0 {
		c.NegotiationShunt = kernel.ShuntHold
	}
	if c.ShuntLifetime <= 0 {
		c.ShuntLifetime = 15 * time.Minute
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 10 * time.Minute
	}
	if c.NegotiationTimeout <= 0 {
		c.NegotiationTimeout = 30 * time.Second
	}
	if c.IKEPort == 0 {
		c.IKEPort = 500
	}
	if c.MaxNegotiations <= 0 {
		c.MaxNegotiations = 1024
	}
	if c.ResponderProbeAnswer <= 0 {
		c.ResponderProbeAnswer = 2 * time.Second
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}
