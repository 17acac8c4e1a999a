package dispatch

import (
	"context"
	"net/netip"
)

// Prestart starts OE to dst from src ahead of its first packet (the DNS
// stub's dns.prestart; oe.OE.Prestart says when it does nothing). A
// destination a configured conn covers is the conn's: it is left alone,
// as the conn's own policy (auto: start, route or add) decides when it
// comes up. It reports whether a negotiation started.
func (d *Dispatcher) Prestart(ctx context.Context, src, dst netip.Addr) bool {
	if _, _, ok := d.conns.For(dst); ok {
		return false
	}
	return d.oe.Prestart(ctx, src, dst)
}

// AwaitNegotiation waits for the OE negotiation with dst that runs now,
// if any (oe.OE.AwaitNegotiation); a destination a configured conn
// covers has none of OE's.
func (d *Dispatcher) AwaitNegotiation(ctx context.Context, dst netip.Addr) error {
	if _, _, ok := d.conns.For(dst); ok {
		return nil
	}
	return d.oe.AwaitNegotiation(ctx, dst)
}
