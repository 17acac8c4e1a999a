package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/control"
)

// hookName is the name under which oemesh acts as `oemesh dns hook`:
// unbound's ipsecmod-hook is an executable it runs with the four
// arguments alone, so a link of that name to oemesh can be the hook.
const hookName = "oemesh-ipsecmod-hook"

// hookArgs turns a run as hookName into `oemesh dns hook -- ARGS`; other
// runs keep their arguments (nil).
func hookArgs(argv []string) []string {
	if len(argv) == 0 || filepath.Base(argv[0]) != hookName {
		return nil
	}
	return append([]string{"dns", "hook", "--"}, argv[1:]...)
}

func newDNSHookCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "hook QNAME TTL ADDRS IPSECKEYS",
		Short: "Hand oemeshd the keys of a name look-up (unbound's ipsecmod-hook)",
		Long: `Tell oemeshd that the addresses ADDRS were found under the name QNAME, which
publishes the IPSECKEY records IPSECKEYS, valid for TTL seconds: OE to those
addresses then uses these keys (not the reverse zone's) and expects the peer to
prove the identity @QNAME. The arguments are those unbound's ipsecmod module
passes to its ipsecmod-hook: QNAME with its final dot, TTL in seconds, the
addresses separated by spaces, and the IPSECKEY rdata separated by spaces, e.g.

  oemesh dns hook b.example. 300 "198.18.0.2 2001:db8::2" "10 0 4 . base64key"

Unbound runs the hook with these four arguments alone: link ` + hookName + `
to oemesh and name the link in ipsecmod-hook (docs/dns.md).

Records that do not parse are skipped with a warning. Under dns.require_dnssec
oemeshd uses a record only when its own validated look-up of QNAME holds it.

Exit status: 0 bound; 1 the arguments are malformed, oemeshd refused them (the
message says why) or oemeshd is not running.`,
		Args: cobra.ExactArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := dnskey.ParseHookArgs(args)
			if err != nil {
				return fmt.Errorf("dns hook: %w", err)
			}
			req := control.BindRequest{Name: h.Name, TTLSeconds: uint32(h.TTL.Seconds()), IPSECKEYs: h.Records}
			for _, a := range h.Addrs {
				req.Addrs = append(req.Addrs, a.String())
			}
			var rep control.BindReply
			if err := g.call(cmd.Context(), "POST", "/v1/dns/bindings", req, &rep); err != nil {
				if se := (*control.StatusError)(nil); errors.As(err, &se) {
					return fmt.Errorf("dns hook: oemeshd refused to bind %s: %w", h.Name, err)
				}
				return fmt.Errorf("dns hook: binding %s: %w", h.Name, err)
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), rep)
			}
			for _, s := range rep.Skipped {
				fmt.Fprintf(cmd.ErrOrStderr(), "oemesh: dns hook: %s: skipped %q: %s\n", h.Name, s.Record, s.Reason)
			}
			var addrs []string
			for _, b := range rep.Bindings {
				addrs = append(addrs, b.Addr)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "bound %s to @%s\n", strings.Join(addrs, " "), strings.TrimSuffix(h.Name, "."))
			return nil
		},
	}
}
