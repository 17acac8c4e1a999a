package tunnel

import (
	"net/netip"
	"slices"

	"github.com/oemesh/oemesh/ike"
)

// The table's indexes by address. SameFlow runs on every CHILD SA a
// responder installs, and ToPeer on every OE initiation (and every NULL
// traffic check); each scanned every tunnel, O(N) with N peers up (57 µs
// of the responder's CPU per handshake at 3,000 peers, for SameFlow).
//
//   - byPeer lists the inbound SPIs of the tunnels found at an address:
//     each tunnel under its peer's outer address and under every single
//     address its remote selectors name (a host behind the peer as its
//     gateway). OE's host-to-host tunnels name the peer itself, so they
//     cost one entry: about 50 octets a peer.
//   - wide holds the tunnels whose remote selectors include a range (a
//     conn's subnet), which no address key covers: ToPeer looks at each.
//     There are few: OE's tunnels are host to host.
//
// index records tn, byIn[spi]; unindex forgets it. t.mu is held.

func (t *Table) index(spi uint32, tn *Tunnel) {
	if t.byPeer == nil {
		t.byPeer = map[netip.Addr][]uint32{}
	}
	forEachKey(tn, func(a netip.Addr) { t.byPeer[a] = append(t.byPeer[a], spi) })
	if hasRange(tn.Remote) {
		if t.wide == nil {
			t.wide = map[uint32]struct{}{}
		}
		t.wide[spi] = struct{}{}
	}
}

func (t *Table) unindex(spi uint32, tn *Tunnel) {
	forEachKey(tn, func(a netip.Addr) {
		spis := t.byPeer[a]
		i := slices.Index(spis, spi)
		switch {
		case i < 0:
		case len(spis) == 1:
			delete(t.byPeer, a)
		default:
			t.byPeer[a] = slices.Delete(spis, i, i+1)
		}
	})
	delete(t.wide, spi)
}

// forEachKey calls f once for each address tn is indexed under: its peer,
// then each single-address remote selector that is not the peer.
func forEachKey(tn *Tunnel, f func(netip.Addr)) {
	f(tn.Peer())
	for i, ts := range tn.Remote {
		if ts.Start != ts.End || ts.Start == tn.Peer() {
			continue
		}
		dup := false
		for _, u := range tn.Remote[:i] {
			dup = dup || (u.Start == u.End && u.Start == ts.Start)
		}
		if !dup {
			f(ts.Start)
		}
	}
}

// hasRange reports whether any selector spans more than one address.
func hasRange(tss []ike.TrafficSelector) bool {
	for _, ts := range tss {
		if ts.Start != ts.End {
			return true
		}
	}
	return false
}

// ToPeer lists the live tunnels to (or through, as gateway) addr: those
// whose peer is addr or whose remote selectors hold it.
func (t *Table) ToPeer(addr netip.Addr) []Tunnel {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Tunnel
	at := t.byPeer[addr]
	take := func(spi uint32) {
		tn := t.byIn[spi]
		if tn.Replaced {
			return
		}
		if tn.Peer() == addr || CoversHost(tn.Remote, addr) {
			out = append(out, *tn)
		}
	}
	for _, spi := range at {
		take(spi)
	}
	for spi := range t.wide {
		if !slices.Contains(at, spi) {
			take(spi)
		}
	}
	return out
}
