package ike

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/oemesh/oemesh/ike/addrpool"
	"github.com/oemesh/oemesh/ike/internal/wire"
)

// Mode config (RFC 7296 §2.19): in IKE_AUTH, an initiator that wants an
// internal address sends CP(CFG_REQUEST) with an empty
// INTERNAL_IP4_ADDRESS and/or INTERNAL_IP6_ADDRESS, and proposes a TSi
// wide enough for any address; a responder with an address pool
// (EngineConfig.AddressPool) leases one per family from it, answers
// CP(CFG_REPLY) with them, and narrows the initiator's TSi to them. The
// leases belong to the IKE SA: they follow it through IKE rekeys and go
// back to the pool when it dies (deleted, expired, or failed half-way).
//
// A responder without a pool ignores CP, as it did before, and as a
// responder that does not implement CP skips it (a non-critical payload,
// §2.5); an initiator that gets no CFG_REPLY carries on without an
// internal address. A responder with a pool serves a peer that sends no
// CP as before too: nothing is leased or narrowed.
//
// What is not done here: CFG_SET/CFG_ACK (unused by IKEv2 clients), DNS
// and subnet attributes, and using the address on the initiator's side
// (client address translation), which is the orchestrator's job.

// AddressRequest asks the responder for internal addresses in IKE_AUTH
// (InitiateOptions.RequestAddress).
type AddressRequest struct {
	IPv4, IPv6 bool
	// OnlyBehindNAT asks only when IKE_SA_INIT's NAT detection found us
	// behind a NAT (our address is not the one the responder saw), as a
	// certificate OE client does: there, our own address is no use to
	// the responder. When it asks, the CHILD SA is in tunnel mode and
	// its TSi every address of the families asked for, whatever
	// InitiateOptions.Mode and TSi say; when it does not, IKE_AUTH
	// carries no CP and the initiation goes on as they say.
	OnlyBehindNAT bool
}

// any reports whether an address of either family is asked for.
func (r AddressRequest) any() bool { return r.IPv4 || r.IPv6 }

// settleAddressRequest decides, once IKE_SA_INIT has told whether we are
// behind a NAT, an OnlyBehindNAT request: asked (tunnel mode, wide TSi)
// or dropped.
func (in *initiation) settleAddressRequest(behindNAT bool) {
	r := in.opts.RequestAddress
	if !r.OnlyBehindNAT || !r.any() {
		return
	}
	if !behindNAT {
		in.opts.RequestAddress = AddressRequest{}
		return
	}
	in.opts.TSi = r.wideSelectors()
	in.opts.Mode = ModeTunnel
}

// ErrCPRequired is wrapped by Initiate's error when the responder refused
// the first CHILD SA of an initiation that asked for no address with
// FAILED_CP_REQUIRED (RFC 7296 §3.10.1): it serves only initiators that
// ask for one, as Libreswan's servers with an address pool (modecfg
// server) do. The engine has deleted the IKE SA, which could not get a
// CHILD SA (CP goes only in IKE_AUTH); the caller may initiate again with
// InitiateOptions.RequestAddress.
var ErrCPRequired = errors.New("the responder requires an address request (CP)")

// cpRequired reports whether err is the responder's FAILED_CP_REQUIRED.
func cpRequired(err error) bool {
	var ne *NotifyError
	return errors.As(err, &ne) && ne.Type == wire.NotifyFailedCPRequired
}

// virtualIPs is an IKE SA's mode config state: the addresses assigned to
// the initiator, leased by us (as responder, from the pool) or to us.
type virtualIPs struct {
	addrs  []netip.Addr
	leased bool           // we leased them from EngineConfig.AddressPool
	owner  addrpool.Owner // the pool's key for them, when leased
}

// wideSelectors are the initiator's default TSi when it asks for
// addresses: all of each family asked for, which the responder narrows
// to what it leases.
func (r AddressRequest) wideSelectors() []TrafficSelector {
	var out []TrafficSelector
	if r.IPv4 {
		out = append(out, TrafficSelector{Type: TSIPv4AddrRange, EndPort: 0xffff,
			Start: netip.IPv4Unspecified(), End: netip.AddrFrom4([4]byte{255, 255, 255, 255})})
	}
	if r.IPv6 {
		out = append(out, TrafficSelector{Type: TSIPv6AddrRange, EndPort: 0xffff,
			Start: netip.IPv6Unspecified(), End: netip.AddrFrom16([16]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})})
	}
	return out
}

// configRequest is the CP payload of our IKE_AUTH request, if we ask for
// addresses.
func (r AddressRequest) configRequest() []wire.Payload {
	if !r.any() {
		return nil
	}
	cp := &wire.Config{CFGType: wire.CFGRequest}
	if r.IPv4 {
		cp.Attributes = append(cp.Attributes, wire.ConfigRequest(wire.AttrInternalIP4Address))
	}
	if r.IPv6 {
		cp.Attributes = append(cp.Attributes, wire.ConfigRequest(wire.AttrInternalIP6Address))
	}
	return []wire.Payload{cp}
}

// acceptConfigReply records the addresses of the responder's CFG_REPLY,
// as initiator. Addresses of a family we did not ask for are ignored; a
// reply without any (or no reply, from a responder that skips CP) leaves
// the SA without internal addresses.
func (sa *ikeSA) acceptConfigReply(m *wire.Message, req AddressRequest) {
	if !req.any() {
		return
	}
	cp, _ := m.Get(wire.PayloadCP).(*wire.Config)
	if cp == nil || cp.CFGType != wire.CFGReply {
		sa.e.log.Info("ike: responder assigned no internal address", "remote", sa.remote, "peer", sa.peerID)
		return
	}
	var addrs []netip.Addr
	for _, a := range cp.Attributes {
		ad, ok := a.Addr()
		if !ok || (a.Type != wire.AttrInternalIP4Address && a.Type != wire.AttrInternalIP6Address) ||
			(ad.Is4() && !req.IPv4) || (ad.Is6() && !req.IPv6) || slices.Contains(addrs, ad) {
			continue
		}
		addrs = append(addrs, ad)
	}
	if len(addrs) > 0 {
		sa.vip = &virtualIPs{addrs: addrs}
	}
	sa.e.log.Debug("ike: CFG_REPLY", "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir), "attributes", cp.Attributes, "addresses", addrs)
}

// errNoAddress is what serveConfigRequest returns when it leased nothing
// to a peer that asked; the IKE_AUTH answer is INTERNAL_ADDRESS_FAILURE.
var errNoAddress = errors.New("no internal address to assign")

// serveConfigRequest answers the initiator's CP(CFG_REQUEST) in IKE_AUTH
// as responder: it leases an address of each family asked for from the
// pool and returns the CFG_REPLY. nil, nil: there is nothing to answer (no
// pool, no CFG_REQUEST). An error wraps errNoAddress when the peer asked
// for addresses and none could be leased (RFC 7296 §3.15.4: the IKE SA is
// still set up, its first CHILD SA is not). Called with sa.mu held, once
// the SA is established.
func (sa *ikeSA) serveConfigRequest(m *wire.Message) (*wire.Config, error) {
	pool := sa.e.cfg.AddressPool
	cp, _ := m.Get(wire.PayloadCP).(*wire.Config)
	if pool == nil || cp == nil || cp.CFGType != wire.CFGRequest {
		return nil, nil
	}
	reply := &wire.Config{CFGType: wire.CFGReply}
	peer := sa.peerID.String()
	if sa.peerID.Type == IDNull {
		peer = "" // every NULL peer has the same ID: nothing to remember
	}
	owner := addrpool.Owner{SPIi: sa.spii, SPIr: sa.spir}
	var asked int
	var errs []error
	for _, fam := range []struct {
		t    wire.ConfigAttrType
		ipv6 bool
	}{{wire.AttrInternalIP4Address, false}, {wire.AttrInternalIP6Address, true}} {
		attrs := cp.Find(fam.t)
		if len(attrs) == 0 {
			continue
		}
		asked++
		hint, _ := attrs[0].Addr()
		a, err := pool.Acquire(addrpool.Request{Owner: owner, Peer: peer, IPv6: fam.ipv6, Hint: hint})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if sa.vip == nil {
			sa.vip = &virtualIPs{leased: true, owner: owner}
		}
		sa.vip.addrs = append(sa.vip.addrs, a)
		reply.Attributes = append(reply.Attributes, wire.AddrAttribute(netip.PrefixFrom(a, a.BitLen())))
	}
	if asked > 0 && len(reply.Attributes) == 0 {
		return nil, fmt.Errorf("ike: CFG_REQUEST from %v (%v): %w: %w", sa.peerID, sa.remote, errNoAddress, errors.Join(errs...))
	}
	sa.e.log.Info("ike: leased internal addresses", "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir),
		"remote", sa.remote, "peer", sa.peerID, "addresses", sa.virtualIPs(), "refused", errors.Join(errs...))
	return reply, nil
}

// narrowToLease narrows the initiator's TSi to the addresses we leased to
// it: each selector that contains a leased address becomes that address
// alone, with the selector's protocol and ports. Without leases TSi is
// returned as it is. A TSi that contains none of the leased addresses is
// an error (TS_UNACCEPTABLE), unless the initiator is behind a NAT: its
// TSi is then replaced by the leases.
func (sa *ikeSA) narrowToLease(tsi []TrafficSelector) ([]TrafficSelector, error) {
	if sa.vip == nil || !sa.vip.leased {
		return tsi, nil
	}
	var out []TrafficSelector
	for _, ts := range tsi {
		for _, a := range sa.vip.addrs {
			n := ts
			n.Start, n.End, n.Raw = a, a, nil
			if tsWithin(n, ts) && !slices.ContainsFunc(out, func(o TrafficSelector) bool { return tsEqual(o, n) }) {
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 && sa.peerBehindNAT {
		// Behind a NAT, a TSi names the initiator's address inside it,
		// which means nothing here (RFC 7296 2.23.1). Libreswan's CAT
		// client (leftcat=yes) proposes just that with its CFG_REQUEST,
		// and takes the lease in its place.
		for _, a := range sa.vip.addrs {
			out = append(out, HostSelector(a))
		}
		return out, nil
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ike: %v proposes TSi %v, which holds none of its leased addresses %v: %w",
			sa.peerID, tsi, sa.vip.addrs, &NotifyError{Type: wire.NotifyTSUnacceptable})
	}
	return out, nil
}

func tsEqual(a, b TrafficSelector) bool {
	return a.Type == b.Type && a.IPProtocol == b.IPProtocol && a.StartPort == b.StartPort && a.EndPort == b.EndPort &&
		a.Start == b.Start && a.End == b.End
}

// virtualIPs returns the SA's internal addresses (a copy).
func (sa *ikeSA) virtualIPs() []netip.Addr {
	if sa.vip == nil {
		return nil
	}
	return slices.Clone(sa.vip.addrs)
}

// leasedIPs returns the addresses we leased to the peer (a copy); nil
// when we leased none, including when the peer leased addresses to us.
func (sa *ikeSA) leasedIPs() []netip.Addr {
	if sa.vip == nil || !sa.vip.leased {
		return nil
	}
	return slices.Clone(sa.vip.addrs)
}

// releaseAddresses gives the SA's leases back to the pool; it is called
// when the SA dies. Called with sa.mu held.
func (sa *ikeSA) releaseAddresses() {
	v := sa.vip
	if v == nil || !v.leased || sa.e.cfg.AddressPool == nil {
		return
	}
	sa.vip = nil
	rel := sa.e.cfg.AddressPool.Release(v.owner)
	sa.e.log.Debug("ike: released internal addresses", "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir), "addresses", rel)
}

// moveAddresses hands sa's internal addresses (and leases) to n, the SA
// that replaced it in an IKE rekey. Called with sa.mu held; takes n's.
func (sa *ikeSA) moveAddresses(n *ikeSA) {
	v := sa.vip
	if n == nil || v == nil {
		return
	}
	sa.vip = nil
	n.lock()
	defer n.unlock()
	if v.leased {
		next := addrpool.Owner{SPIi: n.spii, SPIr: n.spir}
		sa.e.cfg.AddressPool.Move(v.owner, next)
		v.owner = next
	}
	n.vip = v
}
