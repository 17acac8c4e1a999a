package oe

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
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

// saPair translates a negotiated CHILD SA into the data plane's terms.
func saPair(sa ike.ChildSA) (kernel.SAPair, error) {
	var aead kernel.AEAD
	switch sa.Encr.ID {
	case ike.EncrAESGCM16:
		aead = kernel.AESGCM16
	case ike.EncrChaCha20Poly1305:
		aead = kernel.ChaCha20Poly1305
	default:
		return kernel.SAPair{}, fmt.Errorf("oe: ESP transform %v is not an AEAD the data plane carries", sa.Encr)
	}
	if sa.Integ != ike.IntegNone {
		return kernel.SAPair{}, fmt.Errorf("oe: ESP integrity %v with an AEAD is not supported", sa.Integ)
	}
	p := kernel.SAPair{
		In:     kernel.SA{SPI: sa.SPIIn, Src: sa.Remote, Dst: sa.Local, AEAD: aead, Key: sa.EncrKeyIn, ESN: sa.ESN},
		Out:    kernel.SA{SPI: sa.SPIOut, Src: sa.Local, Dst: sa.Remote, AEAD: aead, Key: sa.EncrKeyOut, ESN: sa.ESN},
		Mode:   kernel.ModeTunnel,
		Local:  selectorPrefixes(sa.TSLocal),
		Remote: selectorPrefixes(sa.TSRemote),
		Lifetime: kernel.Lifetime{
			SoftAdd: sa.SoftLifetime,
			HardAdd: sa.HardLifetime,
		},
		ReqID: sa.SPIIn,
		// The responder of a rekey keeps sending on the old pair until
		// the initiator, which installs last, is heard on the new one.
		DeferOutbound: sa.Replaces != 0 && !sa.Initiator,
	}
	if sa.Mode == ike.ModeTransport {
		p.Mode = kernel.ModeTransport
	}
	if sa.Encap {
		p.Encap = &kernel.Encap{SrcPort: sa.EncapLocal, DstPort: sa.EncapRemote}
	}
	if len(p.Local) == 0 || len(p.Remote) == 0 {
		return kernel.SAPair{}, fmt.Errorf("oe: CHILD SA %08x with empty traffic selectors", sa.SPIIn)
	}
	return p, nil
}

// Install implements ike.ChildInstaller: the SA pair goes to the data
// plane, which releases the packets it held for the flow.
func (o *OE) Install(ctx context.Context, sa ike.ChildSA) error {
	p, err := saPair(sa)
	if err != nil {
		return err
	}
	if err := o.dp.InstallSA(ctx, p); err != nil {
		return fmt.Errorf("oe: install SA %08x/%08x with %s: %w", sa.SPIIn, sa.SPIOut, sa.Remote, err)
	}
	o.tunnels.add(o.cfg.Clock.Now(), sa, p.ID())
	o.stats.tunnelsUp.Add(1)
	o.log.Info("tunnel up", "peer", sa.Remote, "id", sa.PeerID.String(), "auth", authName(sa.PeerAuth),
		"mode", sa.Mode, "spi_in", fmt.Sprintf("%08x", sa.SPIIn), "spi_out", fmt.Sprintf("%08x", sa.SPIOut),
		"rekey_of", fmt.Sprintf("%08x", sa.Replaces))
	if sa.Replaces == 0 {
		o.replaceOlder(ctx, sa)
	}
	return nil
}

// Delete implements ike.ChildInstaller.
func (o *OE) Delete(ctx context.Context, sa ike.ChildSA) error {
	t, ok := o.tunnels.remove(sa.SPIIn)
	if !ok {
		return nil // never installed: the data plane's SPI reservation lapses by itself
	}
	// A rekeyed pair hands its policies to the new one.
	err := o.dp.DeleteSA(ctx, t.id, kernel.DeleteOptions{KeepPolicy: t.replaced})
	if err != nil {
		return fmt.Errorf("oe: delete SA %08x with %s: %w", sa.SPIIn, sa.Remote, err)
	}
	o.log.Info("tunnel down", "peer", sa.Remote, "spi_in", fmt.Sprintf("%08x", sa.SPIIn), "replaced", t.replaced)
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
// same peer killed the first).
func (o *OE) replaceOlder(ctx context.Context, sa ike.ChildSA) {
	if sa.Initiator {
		return
	}
	for _, old := range o.tunnels.sameFlow(sa) {
		id := ike.SAID{SPIi: old.ike.SPIi, SPIr: old.ike.SPIr}
		o.log.Info("peer reconnected: deleting its older IKE SA", "peer", sa.Remote, "id", sa.PeerID.String(),
			"local", tsText(sa.TSLocal), "remote", tsText(sa.TSRemote), "old_spi_in", fmt.Sprintf("%08x", old.inSPI()))
		// The peer that reconnected has most likely lost the old SAs (it
		// restarted), so our Delete may never be answered: take the old
		// pair out of the data plane now rather than after the give-up time.
		if t, ok := o.tunnels.remove(old.inSPI()); ok {
			// The new pair carries the flow: keep its policies.
			// Not cancelled with the negotiation that ctx may belong to: the old
			// pair must go whatever becomes of the new one.
			if err := o.dp.DeleteSA(context.WithoutCancel(ctx), t.id, kernel.DeleteOptions{KeepPolicy: true}); err != nil {
				o.log.Warn("removing a reconnected peer's old SA", "peer", sa.Remote, "err", err)
			}
		}
		o.goDetached(func(ctx context.Context) { o.engine.DeleteIKE(ctx, id) })
	}
}

func authName(k ike.AuthKind) string {
	switch k {
	case ike.AuthKindPubkey:
		return "key"
	case ike.AuthKindNull:
		return "null (anonymous)"
	case ike.AuthKindPSK:
		return "psk"
	}
	return k.String()
}
