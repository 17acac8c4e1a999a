package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

func newShuntsClearCmd(g *globalFlags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "clear [ADDR]",
		Short: "Remove the shunts toward ADDR (--all: every shunt), so that its next packet negotiates again",
		Long: `Remove the shunts that failed negotiations left toward ADDR (--all: every
shunt): the flows' traps are back, and their next packet starts a new
negotiation instead of going clear or being dropped until the shunt expires
(oe.shunt_lifetime). Use it once what made OE fail is fixed. The shunt of a
negotiation still under way stays.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := control.ShuntsClearRequest{All: all}
			switch {
			case all && len(args) > 0:
				return usageError(cmd, "shunts clear takes an address or --all, not both")
			case !all && len(args) == 0:
				return usageError(cmd, "shunts clear needs an address, or --all")
			case !all:
				req.Addr = args[0]
			}
			var rep control.ShuntsClearReply
			if err := g.call(cmd.Context(), "POST", "/v1/shunts/clear", req, &rep); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			if len(rep.Cleared) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no shunts cleared")
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d shunt(s) cleared:\n", len(rep.Cleared))
			return writeShunts(cmd.OutOrStdout(), rep.Cleared)
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "clear every shunt")
	return cmd
}
