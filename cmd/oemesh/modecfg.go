package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/ike/addrpool"
)

// Mode config in the offline tools: `respond --address-pool RANGE` leases
// addresses to initiators that ask with CP, `probe --request-address` asks
// for one. Both report the addresses (virtual_ips in the CHILD SA's JSON);
// respond also reports its pool's counters with each event, which is how
// a test sees a lease go back to the pool after a delete.

// poolJSON is the state of respond's address pool, after the event it is
// reported with.
type poolJSON struct {
	Ranges    []string `json:"ranges"`
	Online    int      `json:"online"` // leased now
	Leases    []string `json:"leases"` // "ADDRESS PEER", by address
	Acquired  uint64   `json:"acquired"`
	Released  uint64   `json:"released"`
	Reused    uint64   `json:"reused"`
	Exhausted uint64   `json:"exhausted"`
}

func poolState(p *addrpool.Pool) *poolJSON {
	if p == nil {
		return nil
	}
	s := p.Stats()
	j := &poolJSON{Online: s.Online, Acquired: s.Acquired, Released: s.Released, Reused: s.Reused, Exhausted: s.Exhausted, Leases: []string{}}
	for _, r := range p.Ranges() {
		j.Ranges = append(j.Ranges, r.String())
	}
	for _, l := range p.Leases() {
		peer := l.Peer
		if peer == "" {
			peer = "(anonymous)"
		}
		j.Leases = append(j.Leases, l.Addr.String()+" "+peer)
	}
	return j
}

// poolText is the pool's part of a respond event line.
func poolText(p *poolJSON) string {
	if p == nil {
		return ""
	}
	return fmt.Sprintf(" pool online %d acquired %d released %d exhausted %d", p.Online, p.Acquired, p.Released, p.Exhausted)
}

// addressPoolFlag is respond's --address-pool.
func addressPoolFlag(cmd *cobra.Command, ranges *[]string) {
	cmd.Flags().StringSliceVar(ranges, "address-pool", nil,
		"lease internal addresses to initiators that ask with CP (modecfg) from these ranges: "+
			"FIRST-LAST, a prefix (100.64.0.0/24, fd00:64::/112) or an address; repeat or comma-separate for several")
}

// parseAddressPool builds the pool of --address-pool; nil without ranges.
func parseAddressPool(ranges []string) (*addrpool.Pool, error) {
	if len(ranges) == 0 {
		return nil, nil
	}
	p, err := addrpool.Parse(ranges, nil)
	if err != nil {
		return nil, fmt.Errorf("--address-pool: %w", err)
	}
	return p, nil
}

// requestAddressFlag is probe's --request-address.
func requestAddressFlag(cmd *cobra.Command, families *[]string) {
	cmd.Flags().StringSliceVar(families, "request-address", nil,
		"ask the peer for an internal address with CP(CFG_REQUEST): ipv4 (the default without a value), ipv6, or ipv4,ipv6")
	cmd.Flags().Lookup("request-address").NoOptDefVal = "ipv4"
}

// parseAddressRequest reads --request-address.
func parseAddressRequest(families []string) (ike.AddressRequest, error) {
	var r ike.AddressRequest
	for _, f := range families {
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "ipv4", "4":
			r.IPv4 = true
		case "ipv6", "6":
			r.IPv6 = true
		default:
			return ike.AddressRequest{}, fmt.Errorf("--request-address %q: want ipv4, ipv6 or both", f)
		}
	}
	return r, nil
}

func addrStrings[T fmt.Stringer](as []T) []string {
	if len(as) == 0 {
		return nil
	}
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}
