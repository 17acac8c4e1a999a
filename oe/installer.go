package oe

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// AllocSPI implements ike.ChildInstaller. For an initiation it comes just
// before IKE_AUTH, which is why it also passes the initiation's authGate,
// or refuses one that DNS has withdrawn (authgate.go).
func (o *OE) AllocSPI(ctx context.Context, src, dst netip.Addr) (uint32, error) {
	if err := o.gates.pass(src, dst, o.cfg.Clock.Now()); err != nil {
		return 0, err
	}
	return o.dp.AllocSPI(ctx, src, dst)
}

// Install implements ike.ChildInstaller: the SA pair goes to the data
// plane, which releases the packets it held for the flow, and into the
// tunnel table as OE's.
func (o *OE) Install(ctx context.Context, sa ike.ChildSA) error {
	p, err := tunnel.SAPair(sa)
	if err != nil {
		return err
	}
	// Our own traffic goes out under the address the responder leased
	// us, and comes back to ours (certificate OE behind a NAT).
	p.CAT = catFor(sa, p)
	if err := o.dp.InstallSA(ctx, p); err != nil {
		return fmt.Errorf("oe: install SA %08x/%08x with %s: %w", sa.SPIIn, sa.SPIOut, sa.Remote, err)
	}
	o.tunnels.Add(o.cfg.Clock.Now(), sa, p.ID(), "")
	o.stats.tunnelsUp.Add(1)
	o.log.Info("tunnel up", "peer", sa.Remote, "id", sa.PeerID.String(), "auth", authName(sa.PeerAuth),
		"mode", sa.Mode, "spi_in", tunnel.HexSPI(sa.SPIIn), "spi_out", tunnel.HexSPI(sa.SPIOut),
		"rekey_of", tunnel.HexSPI(sa.Replaces))
	if sa.Replaces == 0 {
		o.replaceOlder(ctx, sa)
	}
	return nil
}

// Delete implements ike.ChildInstaller.
func (o *OE) Delete(ctx context.Context, sa ike.ChildSA) error {
	t, ok := o.tunnels.Remove(sa.SPIIn)
	if !ok {
		return nil // never installed: the data plane's SPI reservation lapses by itself
	}
	// A rekeyed pair hands its policies to the new one.
	err := o.dp.DeleteSA(ctx, t.ID, kernel.DeleteOptions{KeepPolicy: t.Replaced})
	if err != nil {
		return fmt.Errorf("oe: delete SA %08x with %s: %w", sa.SPIIn, sa.Remote, err)
	}
	o.log.Info("tunnel down", "peer", sa.Remote, "spi_in", tunnel.HexSPI(sa.SPIIn), "replaced", t.Replaced)
	return nil
}

// replaceOlder enforces uniqueids for OE: when a peer sets up a new IKE
// SA for the same flow (both ends and the peer's identity: sameFlow), it
// restarted and the old IKE SA is deleted. Only a new SA the peer
// initiated counts as the peer reconnecting: had we initiated it, the
// flow's packets would have used the old SA instead of starting a
// negotiation, unless both sides started one at once, and then both sides
// would each delete the other's SA. Tunnels to the same peer with other
// selectors are other flows and stay (issue 13: a second tunnel to the
// same peer killed the first). Conns' tunnels are never OE's to replace:
// each follows its conn's unique_ids (oe/conn).
func (o *OE) replaceOlder(ctx context.Context, sa ike.ChildSA) {
	if sa.Initiator {
		return
	}
	for _, old := range o.tunnels.SameFlow(sa, "") {
		id := old.IKE
		o.log.Info("peer reconnected: deleting its older IKE SA", "peer", sa.Remote, "id", sa.PeerID.String(),
			"local", tunnel.Text(sa.TSLocal), "remote", tunnel.Text(sa.TSRemote), "old_spi_in", tunnel.HexSPI(old.InSPI()))
		// The peer that reconnected has most likely lost the old SAs (it
		// restarted), so our Delete may never be answered: take the old
		// pair out of the data plane now rather than after the give-up time.
		if t, ok := o.tunnels.Remove(old.InSPI()); ok {
			// The new pair carries the flow: keep its policies.
			// Not cancelled with the negotiation that ctx may belong to: the old
			// pair must go whatever becomes of the new one.
			if err := o.dp.DeleteSA(context.WithoutCancel(ctx), t.ID, kernel.DeleteOptions{KeepPolicy: true}); err != nil {
				o.log.Warn("removing a reconnected peer's old SA", "peer", sa.Remote, "err", err)
			}
		}
		o.goDetached(func(ctx context.Context) { o.engine.DeleteIKE(ctx, id) })
	}
}

func authName(k ike.AuthKind) string { return tunnel.AuthName(k) }
