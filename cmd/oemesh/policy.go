package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

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
					res.OK, res.Prefixes = true, pol.Len()
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
	if res.Applied {
		fmt.Fprintf(cmd.OutOrStdout(), " (%d added, %d removed, %d changed)", res.Added, res.Removed, res.Changed)
	}
	fmt.Fprintln(cmd.OutOrStdout())
	return nil
}

func newPolicyExplainCmd(g *globalFlags) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "explain ADDR",
		Short: "Say which group applies to an address, and which line decided it",
		Long: `Say which policy group applies to ADDR: the most specific prefix across all
groups wins, and with no match the group is clear. Prints the group, the
matching prefix and its FILE:LINE (or "default"). With --dir the files are
read here and no daemon is needed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			addr, err := netip.ParseAddr(strings.TrimSpace(args[0]))
			if err != nil {
				return fmt.Errorf("policy explain: %q is not an IP address", args[0])
			}
			var ex control.Explanation
			if dir != "" {
				pol, _, err := loadDir(cmd.Context(), dir)
				if err != nil {
					return fmt.Errorf("policy directory %s has errors (see 'oemesh policy check --dir %s'):\n%w", dir, dir, err)
				}
				ex = explanation(pol.Lookup(addr).Explain())
			} else if err := g.call(cmd.Context(), "GET", "/v1/policy/explain?addr="+url.QueryEscape(addr.String()), nil, &ex); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), ex)
			}
			if ex.Prefix == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (no prefix matches: default)\n", ex.Address, explainGroupText(ex))
				return nil
			}
			if ex.Exemption != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (%s: exempt from OE, %s)\n", ex.Address, explainGroupText(ex), *ex.Prefix, ex.Exemption)
				return nil
			}
			host := ""
			if ex.Host != "" {
				host = " from host " + ex.Host
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s (%s%s at %s)\n", ex.Address, explainGroupText(ex), *ex.Prefix, host, ex.Source)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "policy directory to read here, without a daemon")
	return cmd
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
	return control.Explanation{Address: ex.Address, Group: groups[ex.Group], Prefix: ex.Prefix, Source: ex.Source, Host: ex.Host}
}
