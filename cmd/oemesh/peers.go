package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

func newPeersCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "peers",
		Short: "List the live peers, one line each: identity, authentication, key exchange, tunnels, bytes, last handshake, idle time",
		Long: `List the peers this host has an established IKE SA with, one line each (as
wg show or tailscale status do): the peer's address and the identity it
proved, how it authenticated, the key exchanges of its newest IKE SA, how
many SA pairs (tunnels) it has, the bytes through them, how long ago its
newest IKE SA was set up, and how long its tunnels have been idle.

oemesh traffic lists the SA pairs themselves; oemesh dns cache the keys
looked up in DNS.`,
		Args: cobra.NoArgs,
		RunE: listRunE(g, "/v1/peers", "no peers", func(w io.Writer, ps []control.Peer) error { return writePeers(w, ps, time.Now()) }),
	}
}

// writePeers prints peers as `oemesh peers`' table, the handshakes' ages
// as of now.
func writePeers(out io.Writer, ps []control.Peer, now time.Time) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PEER\tID\tAUTH\tKEY EXCHANGE\tTUNNELS\tBYTES IN/OUT\tHANDSHAKE\tIDLE")
	for _, p := range ps {
		id := p.ID
		if p.Auth == control.AuthNull {
			id = "(anonymous)"
		}
		idle := "-"
		if p.IdleSeconds != nil {
			idle = seconds(*p.IdleSeconds)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d/%d\t%s ago\t%s\n", p.Addr, id, authText(p.Auth), keyExchangesText(p.KeyExchanges),
			p.Tunnels, p.InBytes, p.OutBytes, seconds(control.Seconds(now.Sub(p.LastHandshake))), idle)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// As under `oemesh traffic`: certificates and leases follow the
	// table, one block per peer that has them.
	for _, p := range ps {
		if d := certLeaseText(p.Addr, p.PeerCert, p.VirtualIPs, p.Initiator); d != "" {
			fmt.Fprintf(out, "\n%s", d)
		}
	}
	return nil
}
