package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

func newTrafficCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "traffic",
		Short: "List the SAs: peer, ID, authentication, mode, key exchanges, bytes, age, idle time; then peer certificates and virtual IPs",
		Args:  cobra.NoArgs,
		RunE:  listRunE(g, "/v1/traffic", "no SAs", writeTraffic),
	}
}

// writeTraffic prints the SA pairs as `oemesh traffic`'s table.
func writeTraffic(out io.Writer, ts []control.TunnelStatus) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PEER\tID\tAUTH\tMODE\tREMOTE\tKEY EXCHANGE\tSPI IN/OUT\tBYTES IN/OUT\tAGE\tIDLE")
	for _, t := range ts {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\t%d/%d\t%s\t%s\n", t.Peer, peerIDText(t), authText(t.Auth), t.Mode,
			strings.Join(t.Remote, ","), keyExchangesText(t.KeyExchanges), t.SPIIn, t.SPIOut, t.InBytes, t.OutBytes, seconds(t.AgeSeconds), seconds(t.IdleSeconds))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	// The certificates and leased addresses would make the table too
	// wide: they follow it, one block per SA pair that has them.
	for _, t := range ts {
		if d := tunnelDetailText(t); d != "" {
			fmt.Fprintf(out, "\n%s", d)
		}
	}
	return nil
}

func newShuntsCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "shunts",
		Short: "List the shunts: flow, kind (pass, drop, hold), reason, expiry",
		Args:  cobra.NoArgs,
		RunE:  listRunE(g, "/v1/shunts", "no shunts", writeShunts),
	}
	cmd.AddCommand(newShuntsClearCmd(g))
	return cmd
}

// writeShunts prints shunts as `oemesh shunts`' table.
func writeShunts(out io.Writer, ss []control.ShuntStatus) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "FLOW\tKIND\tGROUP\tEXPIRES\tREASON")
	for _, s := range ss {
		fmt.Fprintf(w, "%s → %s\t%s\t%s\t%s\t%s\n", s.Src, s.Dst, s.Kind, s.Group, s.Expires.Format("15:04:05"), s.Reason)
	}
	return w.Flush()
}

func newUpCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "up ADDR",
		Short: "Negotiate OE with ADDR now, as its first packet would",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return upDown(cmd, g, "/v1/up", args[0])
		},
	}
}

func newDownCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "down ADDR",
		Short: "Delete the SAs with ADDR, telling the peer",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return upDown(cmd, g, "/v1/down", args[0])
		},
	}
}

func upDown(cmd *cobra.Command, g *globalFlags, path, addr string) error {
	var rep control.UpReply
	if err := g.call(cmd.Context(), "POST", path, control.UpRequest{Addr: addr}, &rep); err != nil {
		return err
	}
	if g.json {
		if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", rep.Addr, rep.Detail)
	}
	if !rep.OK {
		return withExit(1, nil)
	}
	return nil
}
