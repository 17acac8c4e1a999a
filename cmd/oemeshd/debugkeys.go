package main

// oemesh debug keys: the keys of the live SAs, for decrypting a capture of
// this host's own traffic in Wireshark. The control socket is root's
// alone (0600), so only root can ask.

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/kernel"
)

// keyedDataplane remembers the keys of the SA pairs installed through
// it, until they are deleted: the IKE engine forgets CHILD SA keys once
// the data plane has them, and xfrm does not hand them back. The
// userspace data plane does (espKeyLister): with it, nothing is copied.
type keyedDataplane struct {
	kernel.Dataplane
	lister espKeyLister // nil: keep copies in pairs

	mu    sync.Mutex
	pairs map[kernel.SAPairID]pairKeys
}

// espKeyLister is a data plane that lists its SAs with their keys
// (userspace.Device): it holds them anyway, in this process.
type espKeyLister interface {
	ESPKeys() []kernel.SA
}

// pairKeys is what espKeys lists of a pair beyond its ID (the peer and
// both SPIs): our outer address, both AEADs, and both keys in one
// allocation. It is kept for every live pair, so it is small: a whole
// kernel.SAPair in the map cost about 530 octets per peer, this about
// 130 (issue 21). The inbound SA's addresses are the outbound's
// reversed, as every data plane installs them.
type pairKeys struct {
	local   netip.Addr // the outbound SA's source; its destination is the ID's peer
	keys    []byte     // the inbound SA's key, then the outbound's
	inLen   uint16     // length of the inbound key
	in, out kernel.AEAD
}

// newKeyedDataplane wraps dp; lister, when not nil, is the data plane
// under dp (and its wrappers) that lists the keys itself.
func newKeyedDataplane(dp kernel.Dataplane, lister espKeyLister) *keyedDataplane {
	return &keyedDataplane{Dataplane: dp, lister: lister, pairs: map[kernel.SAPairID]pairKeys{}}
}

// InstallSA implements kernel.Dataplane.
func (k *keyedDataplane) InstallSA(ctx context.Context, p kernel.SAPair) error {
	if err := k.Dataplane.InstallSA(ctx, p); err != nil || k.lister != nil {
		return err
	}
	keep := pairKeys{local: p.Out.Src, inLen: uint16(len(p.In.Key)), in: p.In.AEAD, out: p.Out.AEAD}
	keep.keys = append(append(make([]byte, 0, len(p.In.Key)+len(p.Out.Key)), p.In.Key...), p.Out.Key...)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pairs[p.ID()] = keep
	return nil
}

// DeleteSA implements kernel.Dataplane.
func (k *keyedDataplane) DeleteSA(ctx context.Context, id kernel.SAPairID, opts kernel.DeleteOptions) error {
	err := k.Dataplane.DeleteSA(ctx, id, opts)
	if k.lister != nil || (err != nil && !pairGone(ctx, k.Dataplane, id)) {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.pairs, id)
	return err
}

// espKeys lists both SAs of every installed pair.
func (k *keyedDataplane) espKeys() []control.ESPSAKeys {
	if k.lister != nil {
		sas := k.lister.ESPKeys()
		out := make([]control.ESPSAKeys, 0, len(sas))
		for _, sa := range sas {
			out = append(out, control.ESPSAKeys{Src: sa.Src.String(), Dst: sa.Dst.String(), SPI: fmt.Sprintf("%08x", sa.SPI),
				AEAD: sa.AEAD.String(), Key: hex.EncodeToString(sa.Key)})
		}
		slices.SortFunc(out, func(a, b control.ESPSAKeys) int { return strings.Compare(a.SPI, b.SPI) })
		return out
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]control.ESPSAKeys, 0, 2*len(k.pairs))
	for id, p := range k.pairs {
		local, peer := p.local.String(), id.Peer.String()
		out = append(out,
			control.ESPSAKeys{Src: local, Dst: peer, SPI: fmt.Sprintf("%08x", id.OutSPI), AEAD: p.out.String(), Key: hex.EncodeToString(p.keys[p.inLen:])},
			control.ESPSAKeys{Src: peer, Dst: local, SPI: fmt.Sprintf("%08x", id.InSPI), AEAD: p.in.String(), Key: hex.EncodeToString(p.keys[:p.inLen])})
	}
	slices.SortFunc(out, func(a, b control.ESPSAKeys) int { return strings.Compare(a.SPI, b.SPI) })
	return out
}

// ikeKeysView is the control API's view of the engine's IKE SA keys.
func ikeKeysView(ks []ike.SAKeys) []control.IKESAKeys {
	out := make([]control.IKESAKeys, 0, len(ks))
	for _, k := range ks {
		out = append(out, control.IKESAKeys{
			SPIi: hex.EncodeToString(k.ID.SPIi[:]), SPIr: hex.EncodeToString(k.ID.SPIr[:]),
			Encr: uint16(k.Suite.Encr.ID), EncrKeyBits: k.Suite.Encr.KeyBits, Integ: uint16(k.Suite.Integ),
			SKei: hex.EncodeToString(k.SKei), SKer: hex.EncodeToString(k.SKer),
			SKai: hex.EncodeToString(k.SKai), SKar: hex.EncodeToString(k.SKar),
		})
	}
	return out
}

func (d *daemon) handleDebugKeys(*http.Request) (any, error) {
	if err := d.needOE(); err != nil {
		return nil, err
	}
	reply := control.DebugKeys{IKE: ikeKeysView(d.oe.Engine().DebugKeys()), ESP: []control.ESPSAKeys{}}
	if d.saKeys != nil {
		reply.ESP = d.saKeys.espKeys()
	}
	d.log.Warn("the keys of the live SAs were handed out (oemesh debug keys)", "ike_sas", len(reply.IKE), "esp_sas", len(reply.ESP))
	return reply, nil
}
