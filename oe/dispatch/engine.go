package dispatch

import (
	"context"
	"crypto"
	"net/netip"

	"github.com/oemesh/oemesh/ike"
)

// The engine's interfaces, each call routed to the conns or to OE.
var (
	_ ike.KeyResolver      = (*Dispatcher)(nil)
	_ ike.LocalKeyResolver = (*Dispatcher)(nil)
	_ ike.PeerPolicy       = (*Dispatcher)(nil)
	_ ike.NullSignPolicy   = (*Dispatcher)(nil)
	_ ike.ChildInstaller   = (*Dispatcher)(nil)
)

// PeerKeys implements ike.KeyResolver: a conn's key file for its peer,
// else OE's keys from DNS.
func (d *Dispatcher) PeerKeys(ctx context.Context, peer ike.Identity, remote netip.Addr) ([]crypto.PublicKey, error) {
	if keys, ok := d.conns.PeerKeys(peer, remote); ok {
		return keys, nil
	}
	return d.oe.PeerKeys(ctx, peer, remote)
}

// LocalPeerKeys implements ike.LocalKeyResolver: a conn's key file for
// its peer, which the engine takes without a goroutine per look-up; ok
// false leaves the peer to PeerKeys (OE's keys from DNS).
func (d *Dispatcher) LocalPeerKeys(peer ike.Identity, remote netip.Addr) ([]crypto.PublicKey, bool) {
	return d.conns.PeerKeys(peer, remote)
}

// PrefetchPeerKeys implements ike.KeyPrefetcher: a peer a configured conn
// names brings its keys from the conn; any other is OE's to prefetch.
func (d *Dispatcher) PrefetchPeerKeys(remote netip.Addr) {
	if _, _, ok := d.conns.For(remote); ok {
		return
	}
	d.oe.PrefetchPeerKeys(remote)
}

// AcceptAuth implements ike.PeerPolicy: the conns that name the peer
// decide, else OE.
func (d *Dispatcher) AcceptAuth(ctx context.Context, req ike.AuthRequest) error {
	if handled, err := d.conns.AcceptAuth(req); handled {
		return err
	}
	return d.oe.AcceptAuth(ctx, req)
}

// Child implements ike.PeerPolicy: the conns that name the peer with its
// authentication decide, else OE.
func (d *Dispatcher) Child(ctx context.Context, req ike.ChildRequest) (ike.ChildDecision, error) {
	if handled, dec, err := d.conns.Child(req); handled {
		return dec, err
	}
	return d.oe.Child(ctx, req)
}

// SignForNull implements ike.NullSignPolicy: a conn's NULL answer stays
// NULL; OE signs for opportunistic NULL initiators.
func (d *Dispatcher) SignForNull(req ike.AuthRequest) bool {
	if d.conns.KeepsNull(req) {
		return false
	}
	return d.oe.SignForNull(req)
}

// AllocSPI implements ike.ChildInstaller through OE for every SA: an SPI
// toward a peer that an OE initiation is negotiating with passes (or is
// refused by) that initiation's gate (oe/authgate.go), whoever asks.
func (d *Dispatcher) AllocSPI(ctx context.Context, src, dst netip.Addr) (uint32, error) {
	return d.oe.AllocSPI(ctx, src, dst)
}

// Install implements ike.ChildInstaller: a conn's CHILD SA (Conns.Owner)
// is the conns' to install, any other OE's.
func (d *Dispatcher) Install(ctx context.Context, sa ike.ChildSA) error {
	if name := d.conns.Owner(sa); name != "" {
		return d.conns.Install(ctx, sa, name)
	}
	return d.oe.Install(ctx, sa)
}

// Delete implements ike.ChildInstaller by the owner the table recorded.
func (d *Dispatcher) Delete(ctx context.Context, sa ike.ChildSA) error {
	if t, ok := d.tunnels.Get(sa.SPIIn); ok && t.Conn != "" {
		return d.conns.Delete(ctx, sa)
	}
	return d.oe.Delete(ctx, sa)
}

// childUp is the engine's OnChildUp: the conns look at their tunnels, then
// the caller's hook runs.
func (d *Dispatcher) childUp(info ike.ChildSAInfo) {
	d.conns.OnChildUp(info)
	if d.onChildUp != nil {
		d.onChildUp(info)
	}
}

// childDown is the engine's OnChildDown, routed the same way.
func (d *Dispatcher) childDown(info ike.ChildSAInfo, err error) {
	d.conns.OnChildDown(info, err)
	if d.onChildDown != nil {
		d.onChildDown(info, err)
	}
}
