package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

func newDNSBindingsCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "bindings",
		Short: "List the addresses bound to the forward names they were looked up by",
		Long: `List the addresses that name look-ups (oemesh dns hook) bound to forward
names: OE to such an address uses the keys published at the name and expects
the peer to prove the identity @NAME. Then the store's counters.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var l control.BindingList
			if err := g.call(cmd.Context(), "GET", "/v1/dns/bindings", nil, &l); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), l)
			}
			out := cmd.OutOrStdout()
			if len(l.Bindings) == 0 {
				fmt.Fprintln(out, "no bindings")
			} else {
				w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ADDRESS\tNAME\tSECURE\tEXPIRES IN\tKEYS")
				for _, b := range l.Bindings {
					var keys []string
					for _, k := range b.Keys {
						keys = append(keys, fmt.Sprintf("%s gw=%s %s", k.Algorithm, gatewayText(k.Gateway), k.Fingerprint))
					}
					fmt.Fprintf(w, "%s\t@%s\t%v\t%s\t%s\n", b.Addr, strings.TrimSuffix(b.Name, "."), b.Secure, seconds(b.ExpiresInSeconds), strings.Join(keys, "; "))
				}
				if err := w.Flush(); err != nil {
					return err
				}
			}
			c := l.Counters
			fmt.Fprintf(out, "%d of at most %d; added %d, replaced %d, expired %d, evicted %d; OE look-ups: %d found, %d not\n",
				c.Entries, c.Max, c.Added, c.Replaced, c.Expired, c.Evicted, c.Hits, c.Misses)
			return nil
		},
	}
}
