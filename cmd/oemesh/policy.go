package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/policygroups"
)

func newPolicyCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check, explain and reload the policy groups",
	}
	cmd.AddCommand(newPolicyCheckCmd(g), newPolicyExplainCmd(g), newPolicyReloadCmd(g))
	return cmd
}

// loadDir reads a policy directory here, without a daemon.
func loadDir(ctx context.Context, dir string) (*policygroups.Policy, []policygroups.Warning, error) {
	return policygroups.Load(ctx, dir, policygroups.LoadOptions{Resolver: net.DefaultResolver})
}

func newPolicyCheckCmd(g *globalFlags) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the policy files; exit 1 and print every error as FILE:LINE: message",
		Long: `Check the policy group files. With --dir, the files are read here and no
daemon is needed; without it, the daemon checks its configured directory
(without applying it). Exit status 0 means no errors; 1 means errors, each
printed as FILE:LINE: message.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res control.PolicyCheck
			if dir != "" {
				res.Dir = dir
				pol, warns, err := loadDir(cmd.Context(), dir)
				for _, w := range warns {
					res.Warnings = append(res.Warnings, w.String())
				}
				var errs policygroups.Errors
				switch {
				case errors.As(err, &errs):
					for _, e := range errs {
						res.Errors = append(res.Errors, e.Error())
					}
				case err != nil:
					res.Errors = append(res.Errors, err.Error())
				default:
					res.OK, res.Prefixes, res.Exclusions = true, pol.Len(), len(pol.Exclusions())
				}
			} else if err := g.call(cmd.Context(), "POST", "/v1/policy/check", nil, &res); err != nil {
				return err
			}
			return reportCheck(cmd, g, res, "ok")
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "policy directory to check here, without a daemon")
	return cmd
}

// reportCheck prints a check or reload result; errors go to stderr and make
// the exit status 1.
func reportCheck(cmd *cobra.Command, g *globalFlags, res control.PolicyCheck, verb string) error {
	if g.json {
		if err := printJSON(cmd.OutOrStdout(), res); err != nil {
			return err
		}
		if !res.OK {
			return withExit(1, nil)
		}
		return nil
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
	}
	if !res.OK {
		for _, e := range res.Errors {
			fmt.Fprintln(cmd.ErrOrStderr(), e)
		}
		return withExit(1, nil)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s, %d prefixes", res.Dir, verb, res.Prefixes)
	if res.Exclusions > 0 {
		fmt.Fprintf(cmd.OutOrStdout(), ", %d port exclusions", res.Exclusions)
	}
	if res.Applied {
		fmt.Fprintf(cmd.OutOrStdout(), " (%d added, %d removed, %d changed)", res.Added, res.Removed, res.Changed)
	}
	fmt.Fprintln(cmd.OutOrStdout())
	return nil
}

func newPolicyExplainCmd(g *globalFlags) *cobra.Command {
	var (
		dir, configFile, proto string
		port                   uint16
	)
	cmd := &cobra.Command{
		Use:   "explain ADDR",
		Short: "Say which group applies to an address, and which line decided it",
		Long: `Say which policy group applies to ADDR: the most specific prefix across all
groups wins, and with no match the group is clear. Prints the group, the
matching prefix and its FILE:LINE (or "default"). With --proto (and --port,
the destination port) it explains one flow to ADDR: a line of
portexcludes.conf that matches it keeps it clear, whatever the group.

Unless a port exclusion keeps the flow clear, a configured conn whose remote
subnet holds ADDR at least as specifically as the groups' match takes the
traffic instead; the answer then names the conn.

With --dir the files are read here and no daemon is needed; --config adds
the conns of a configuration file (those with auto route or start, which
the daemon routes) to the offline answer.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := netip.ParseAddr(strings.TrimSpace(args[0]))
			if err != nil {
				return fmt.Errorf("policy explain: %q is not an IP address", args[0])
			}
			f, err := explainFlowFlags(addr, proto, port)
			if err != nil {
				return err
			}
			var ex control.Explanation
			switch {
			case configFile != "" && dir == "":
				return errors.New("policy explain: --config is read offline and needs --dir, the policy directory; without both, ask the daemon")
			case dir != "":
				ex, err = explainOffline(cmd.Context(), dir, configFile, f)
				if err != nil {
					return err
				}
			default:
				q := url.Values{"addr": {addr.String()}}
				if f.Proto != 0 {
					q.Set("proto", strconv.Itoa(int(f.Proto)))
				}
				if f.DstPort != 0 {
					q.Set("port", strconv.Itoa(int(f.DstPort)))
				}
				if err := g.call(cmd.Context(), "GET", "/v1/policy/explain?"+q.Encode(), nil, &ex); err != nil {
					return err
				}
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), ex)
			}
			printExplanation(cmd.OutOrStdout(), ex, f)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "policy directory to read here, without a daemon")
	cmd.Flags().StringVar(&configFile, "config", "", "with --dir: a configuration file whose conns take part in the offline answer")
	cmd.Flags().StringVar(&proto, "proto", "", "explain a flow of this IP protocol (tcp, udp, icmp, ... or a number)")
	cmd.Flags().Uint16Var(&port, "port", 0, "with --proto: the flow's destination port")
	return cmd
}

// explainFlowFlags is the flow --proto and --port ask about.
func explainFlowFlags(addr netip.Addr, proto string, port uint16) (policygroups.Flow, error) {
	f := policygroups.Flow{Dst: addr, DstPort: port}
	if proto != "" {
		p, err := policygroups.ParseProto(proto)
		if err != nil {
			return f, fmt.Errorf("policy explain: --proto %q: %w", proto, err)
		}
		f.Proto = p
	}
	if port != 0 && f.Proto == 0 {
		return f, errors.New("policy explain: --port needs --proto (tcp, udp, sctp, ...)")
	}
	return f, nil
}

// explainOffline answers as the daemon would, from the policy directory
// and, if given, the conns of a configuration file. The rule between conns
// and groups is the daemon's own, policygroups.ConnFor.
func explainOffline(ctx context.Context, dir, configFile string, f policygroups.Flow) (control.Explanation, error) {
	pol, _, err := loadDir(ctx, dir)
	if err != nil {
		return control.Explanation{}, fmt.Errorf("policy directory %s has errors (see 'oemesh policy check --dir %s'):\n%w", dir, dir, err)
	}
	ex := pol.ExplainFlow(f)
	if configFile != "" && ex.PortExclusion == "" { // an exclusion is above conns too, as in the daemon
		conns, err := config.LoadConns(configFile)
		if err != nil {
			return control.Explanation{}, fmt.Errorf("policy explain: %w", err)
		}
		if c, p, ok := policygroups.ConnFor(pol.Lookup(f.Dst), routedSubnets(conns)); ok {
			ps := p.String()
			return control.Explanation{Address: f.Dst.Unmap().String(), Group: control.GroupPrivate, Prefix: &ps,
				Source: "conn " + c.Name + " in " + configFile, Conn: c.Name}, nil
		}
	}
	return explanation(ex), nil
}

// routedSubnets yields the remote subnets of the conns the daemon routes
// when it starts (auto route or start), each with its conn: a conn without
// remote subnets covers its peer's address alone. Conns with auto add are
// not routed, and take no traffic until someone routes them.
func routedSubnets(conns []config.Conn) iter.Seq2[config.Conn, netip.Prefix] {
	return func(yield func(config.Conn, netip.Prefix) bool) {
		for _, c := range conns {
			if c.Auto != "route" && c.Auto != "start" {
				continue
			}
			nets := c.RemoteSubnets
			if len(nets) == 0 && c.RemoteAddr.IsValid() {
				nets = []netip.Prefix{netip.PrefixFrom(c.RemoteAddr, c.RemoteAddr.BitLen())}
			}
			for _, p := range nets {
				if !yield(c, p) {
					return
				}
			}
		}
	}
}

// printExplanation writes an explanation as one line.
func printExplanation(w io.Writer, ex control.Explanation, f policygroups.Flow) {
	switch {
	case ex.PortExclusion != "":
		fmt.Fprintf(w, "%s: %s for %s (port exclusion %q at %s)\n", ex.Address, explainGroupText(ex), flowText(f), ex.PortExclusion, ex.Source)
	case ex.Prefix == nil:
		fmt.Fprintf(w, "%s: %s (no prefix matches: default)\n", ex.Address, explainGroupText(ex))
	case ex.Exemption != "":
		fmt.Fprintf(w, "%s: %s (%s: exempt from OE, %s)\n", ex.Address, explainGroupText(ex), *ex.Prefix, ex.Exemption)
	default:
		host := ""
		if ex.Host != "" {
			host = " from host " + ex.Host
		}
		fmt.Fprintf(w, "%s: %s (%s%s at %s)\n", ex.Address, explainGroupText(ex), *ex.Prefix, host, ex.Source)
	}
}

// flowText is the flow asked about as "tcp/22" or "icmp".
func flowText(f policygroups.Flow) string {
	if f.DstPort == 0 {
		return policygroups.ProtoName(f.Proto)
	}
	return policygroups.ProtoName(f.Proto) + "/" + strconv.Itoa(int(f.DstPort))
}

func newPolicyReloadCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Make the daemon reload the policy files (as SIGHUP does)",
		Long: `Make the daemon reload its policy directory. Only what changed is updated.
If any file has an error, the daemon keeps the policy in force and the errors
are printed as FILE:LINE: message, with exit status 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var res control.PolicyCheck
			if err := g.call(cmd.Context(), "POST", "/v1/policy/reload", nil, &res); err != nil {
				return err
			}
			return reportCheck(cmd, g, res, "reloaded")
		},
	}
}

// explanation is an offline explanation (--dir) in the daemon's reply
// form, so that --json prints the same type with or without a daemon.
func explanation(ex policygroups.Explanation) control.Explanation {
	groups := map[policygroups.Group]control.Group{
		policygroups.Clear: control.GroupClear, policygroups.ClearOrPrivate: control.GroupClearOrPrivate,
		policygroups.PrivateOrClear: control.GroupPrivateOrClear, policygroups.Private: control.GroupPrivate,
		policygroups.Block: control.GroupBlock,
	}
	return control.Explanation{Address: ex.Address, Group: groups[ex.Group], Prefix: ex.Prefix, Source: ex.Source, Host: ex.Host,
		Exemption: ex.Exemption, PortExclusion: ex.PortExclusion}
}
