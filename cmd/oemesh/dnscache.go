package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

func newDNSCacheCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "cache",
		Short: "List oemeshd's DNS cache: peers' keys and negative answers, with their TTLs",
		Args:  cobra.NoArgs,
		RunE:  listRunE(g, "/v1/dns/cache", "DNS cache empty", writeDNSCache),
	}
}

// writeDNSCache prints the cache as `oemesh dns cache`' table.
func writeDNSCache(out io.Writer, es []control.DNSCacheEntry) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tTYPE\tANSWER\tSECURE\tEXPIRES IN\tKEYS")
	for _, e := range es {
		var keys []string
		for _, k := range e.Keys {
			keys = append(keys, fmt.Sprintf("%s gw=%s %s", k.Algorithm, gatewayText(k.Gateway), k.Fingerprint))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%v\t%s\t%s\n", e.Name, e.Type, answerText(e.Answer), e.Secure, seconds(e.ExpiresInSeconds), strings.Join(keys, "; "))
	}
	return w.Flush()
}

func newDNSFlushCmd(g *globalFlags) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "flush [ADDR|@FQDN]",
		Short: "Make oemeshd forget what DNS told it of one ID (--all: of every one)",
		Long: `Make oemeshd forget the cached answers (keys, and negative answers such as
NXDOMAIN) and the remembered failures of one ID's name: the reverse name of an
address, or the FQDN of @FQDN. Its next negotiation asks DNS again, without
waiting out the TTLs: after a peer published a new key, or fixed its zone.
--all forgets everything.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := control.DNSFlushRequest{All: all}
			switch {
			case all && len(args) > 0:
				return usageError(cmd, "dns flush takes an address or @FQDN, or --all, not both")
			case !all && len(args) == 0:
				return usageError(cmd, "dns flush needs an address or @FQDN, or --all")
			case !all:
				req.ID = args[0]
			}
			var rep control.DNSFlushReply
			if err := g.call(cmd.Context(), "POST", "/v1/dns/flush", req, &rep); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			if all {
				fmt.Fprintf(cmd.OutOrStdout(), "DNS cache flushed: %d entries\n", rep.Flushed)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %d entries flushed\n", rep.Name, rep.Flushed)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "flush the whole cache")
	return cmd
}
