package xfrm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

// CAT is client address translation for one negotiated flow: the
// responder leased this host an address (modecfg) and the CHILD SA's
// local selector is that lease, not an address the host has. Sockets keep
// using the host's own address; CAT makes their traffic to the peer leave
// through the SA as the lease, and the peer's answers (and its new
// connections to the lease) arrive at the host's own address. Libreswan
// calls it leftcat=yes and does it the same way on Linux, with an extra
// policy and two NAT rules (its _updown's addcat and delcat).
//
// Three pieces do it (see docs/certificate-oe.md, "CAT on xfrm"):
//
//   - an outbound policy Local→Peer with the flow's own ESP template, in
//     the SA class of our band: the route lookup of a socket's packet finds
//     the SA instead of the trap or nothing, and nothing from Local to Peer
//     leaves in clear while the flow is up;
//   - nftables, postrouting (source NAT), in a table of its own: a packet
//     from Local to Peer whose route goes through IPsec (`rt ipsec
//     exists`) gets the source Leased. Netfilter then looks the policy up
//     again with the new addresses (nf_xfrm_me_harder), finds the flow's
//     Leased→Peer policy, and ESP carries the packet as the lease. The
//     outer ESP packet and IKE (whose sockets bypass IPsec) have no IPsec
//     route and keep their source;
//   - prerouting (destination NAT): a decrypted packet (`meta ipsec
//     exists`) from Peer to Leased goes to Local. The inbound policy check
//     sees the pre-NAT addresses (nf_nat_decode_session), so the flow's
//     Peer→Leased policy accepts it. Answers to Local's own connections
//     need no rule: conntrack reverses the source NAT.
//
// The rules are shelled out to nft(8) (package nftables), run on the data
// plane's namespace thread: one `nft -f -` transaction per change, so a
// table is never half there. A table per CAT, named for its addresses
// (catTablePrefix), lets Reconcile and Close find ours.
type CAT struct {
	// Local is this host's own address, the source its sockets pick
	// toward Peer.
	Local netip.Addr
	// Leased is the address the peer leased to this host: the local
	// selector of the flow.
	Leased netip.Addr
	// Peer is the remote inner address (the flow's remote selector, a
	// single host).
	Peer netip.Addr
}

// catTablePrefix starts the name of every nftables table CAT installs.
const catTablePrefix = "oemesh_cat_"

// nftCommand is the nft binary, looked up on PATH.
const nftCommand = "nft"

// nftTimeout bounds one nft run where no caller's context applies.
const nftTimeout = 10 * time.Second

func (c CAT) String() string { return fmt.Sprintf("CAT %s as %s to %s", c.Local, c.Leased, c.Peer) }

// validate checks that the three addresses are of one family and distinct.
func (c CAT) validate() error {
	for _, a := range []netip.Addr{c.Local, c.Leased, c.Peer} {
		if !a.IsValid() || a.IsUnspecified() {
			return fmt.Errorf("%s: need Local, Leased and Peer addresses", c)
		}
		if a.Zone() != "" {
			return fmt.Errorf("%s: %s has a zone", c, a)
		}
	}
	if c.Local.Is4() != c.Leased.Is4() || c.Local.Is4() != c.Peer.Is4() {
		return fmt.Errorf("%s: addresses of two families", c)
	}
	if c.Local == c.Leased || c.Local == c.Peer || c.Leased == c.Peer {
		return fmt.Errorf("%s: the three addresses must differ", c)
	}
	return nil
}

func (c CAT) family() string {
	if c.Local.Is4() {
		return "ip"
	}
	return "ip6"
}

// table is the name of c's nftables table: the prefix and the hex of
// Leased and Peer (nft names take no ':').
func (c CAT) table() string {
	return fmt.Sprintf("%s%x_%x", catTablePrefix, c.Leased.AsSlice(), c.Peer.AsSlice())
}

// installScript replaces c's table in one transaction: the empty `table`
// makes the `delete` succeed when there is none yet.
func (c CAT) installScript() string {
	f, t, ip := c.family(), c.table(), c.family()
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {}\ndelete table %s %s\n", f, t, f, t)
	fmt.Fprintf(&b, "table %s %s {\n", f, t)
	fmt.Fprintf(&b, "\tchain cat_out {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	fmt.Fprintf(&b, "\t\t%s saddr %s %s daddr %s rt ipsec exists snat to %s\n\t}\n", ip, c.Local, ip, c.Peer, c.Leased)
	fmt.Fprintf(&b, "\tchain cat_in {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
	fmt.Fprintf(&b, "\t\t%s saddr %s %s daddr %s meta ipsec exists dnat to %s\n\t}\n}\n", ip, c.Peer, ip, c.Leased, c.Local)
	return b.String()
}

// removeScript deletes c's table, and succeeds when there is none.
func (c CAT) removeScript() string {
	return removeTableScript(c.family(), c.table())
}

func removeTableScript(family, table string) string {
	return fmt.Sprintf("table %s %s {}\ndelete table %s %s\n", family, table, family, table)
}

// AddCAT translates the traffic of the flow that pair id belongs to, as c
// says (see CAT). The flow must be a tunnel whose local selector is
// c.Leased and whose remote selector holds c.Peer. Its pieces go with the
// flow's policies: when DeleteSA removes the flow's last pair (without
// KeepPolicy), at Close, or by RemoveCAT. Adding the same CAT again
// replaces its rules.
func (d *Dataplane) AddCAT(ctx context.Context, id kernel.SAPairID, c CAT) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("xfrm: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	return d.addCAT(ctx, id, c)
}

// addCAT is AddCAT with d.mu held and c valid: InstallSA calls it for a
// pair that carries a CAT, right after installing it.
func (d *Dataplane) addCAT(ctx context.Context, id kernel.SAPairID, c CAT) error {
	pe, ok := d.pairs[id]
	if !ok {
		return fmt.Errorf("xfrm: %s: no SA pair to %s (in %#08x, out %#08x)", c, id.Peer, id.InSPI, id.OutSPI)
	}
	fe := d.flows[pe.flow]
	out, err := catTemplate(fe, c)
	if err != nil {
		return fmt.Errorf("xfrm: %s: flow %s: %w", c, pe.flow, err)
	}
	pol := catPolicy(d.opts.PriorityBase, c, out)
	if err := d.put(pol); err != nil {
		return fmt.Errorf("xfrm: %s: policy: %w", c, err)
	}
	if err := d.ex.nft(ctx, c.installScript()); err != nil {
		_ = d.del(pol.Sel, pol.Dir)
		return fmt.Errorf("xfrm: %s: nftables: %w", c, err)
	}
	fe.policies = append(fe.policies, pol)
	if fe.cats == nil {
		fe.cats = map[CAT]bool{}
	}
	fe.cats[c] = true
	d.log.Debug("CAT installed", "local", c.Local, "leased", c.Leased, "peer", c.Peer, "table", c.table(), "flow", pe.flow)
	return nil
}

// RemoveCAT takes c's rules and policy away while its flow stays (the
// flow then carries only traffic from the lease itself). Removing a CAT
// that is not there is no error.
func (d *Dataplane) RemoveCAT(ctx context.Context, c CAT) error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("xfrm: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.checkOpen(); err != nil {
		return err
	}
	for _, fe := range d.flows {
		if fe.cats[c] {
			sel := catSelector(c)
			fe.policies = slices.DeleteFunc(fe.policies, func(p policy) bool { return p.Sel == sel && p.Dir == dirOut })
			delete(fe.cats, c)
		}
	}
	return d.removeCAT(ctx, c)
}

// removeCAT deletes c's nftables table and policy; d.mu is held.
func (d *Dataplane) removeCAT(ctx context.Context, c CAT) error {
	var errs []error
	if err := d.ex.nft(ctx, c.removeScript()); err != nil {
		errs = append(errs, fmt.Errorf("nftables: %w", err))
	}
	if err := d.del(catSelector(c), dirOut); err != nil {
		errs = append(errs, fmt.Errorf("policy: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("xfrm: remove %s: %w", c, err)
	}
	d.log.Debug("CAT removed", "local", c.Local, "leased", c.Leased, "peer", c.Peer)
	return nil
}

// removeFlowCATs removes the nftables tables of fe's CATs (their policies
// are among fe.policies, which the caller removes); d.mu is held.
func (d *Dataplane) removeFlowCATs(fe *flowEntry) error {
	if len(fe.cats) == 0 {
		return nil
	}
	// DeleteSA's and Close's callers may be done with their contexts;
	// the rules must go regardless.
	ctx, cancel := context.WithTimeout(context.Background(), nftTimeout)
	defer cancel()
	var errs []error
	for c := range fe.cats {
		if err := d.ex.nft(ctx, c.removeScript()); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: nftables: %w", c, err))
		}
	}
	fe.cats = nil
	return errors.Join(errs...)
}

func catSelector(c CAT) selector {
	return selector{Src: hostPrefix(c.Local), Dst: hostPrefix(c.Peer)}
}

// catPolicy is c's outbound policy, Local→Peer, with the flow's template.
func catPolicy(base uint32, c CAT, out tmpl) policy {
	sel := catSelector(c)
	return policy{Sel: sel, Dir: dirOut, Priority: priority(base, classSA, sel), Tmpl: &out}
}

// catTemplate finds the outbound template of fe, checking that the flow
// is a tunnel from c.Leased to a prefix holding c.Peer.
func catTemplate(fe *flowEntry, c CAT) (tmpl, error) {
	for _, p := range fe.policies {
		if p.Dir != dirOut || p.Tmpl == nil {
			continue
		}
		if p.Sel.Src == hostPrefix(c.Leased) && p.Sel.Dst.Contains(c.Peer) {
			if p.Tmpl.Mode != modeTunnel {
				return tmpl{}, errors.New("not a tunnel: CAT needs tunnel mode (the inner source changes)")
			}
			return *p.Tmpl, nil
		}
	}
	return tmpl{}, fmt.Errorf("no outbound policy from %s to a prefix holding %s", c.Leased, c.Peer)
}

// pairCAT is the translation a pair asks for (kernel.SAPair.CAT, checked
// by checkPair): the host's own address to the lease, towards the one
// peer address of the remote selector.
func pairCAT(p kernel.SAPair) (CAT, bool) {
	if p.CAT == nil {
		return CAT{}, false
	}
	return CAT{Local: p.CAT.Host, Leased: p.CAT.Leased, Peer: p.Remote[0].Addr()}, true
}
