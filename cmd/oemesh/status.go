package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

func newStatusCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the daemon's state: uptime, configuration, policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st control.Status
			if err := g.call(cmd.Context(), "GET", "/v1/status", nil, &st); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				return printJSON(out, st)
			}
			fmt.Fprintf(out, "oemeshd %s, pid %d, up %s (since %s)\n", st.Version, st.PID, st.Uptime, st.Started.Format("2006-01-02 15:04:05 MST"))
			if st.Identity != "" {
				fmt.Fprintf(out, "identity: %s\n", st.Identity)
			}
			if st.KeyFingerprint != "" {
				fmt.Fprintf(out, "host key: %s\n", st.KeyFingerprint)
			}
			if p := st.Publish; p != nil {
				fmt.Fprintf(out, "dns publish: %s since %s (%s)\n", p.State, p.Since.Format("2006-01-02 15:04:05 MST"), p.Records)
				if p.LastError != "" {
					fmt.Fprintf(out, "  failed %d time(s), last: %s\n", p.Attempts, p.LastError)
				}
				if p.NextRetry != nil {
					fmt.Fprintf(out, "  next attempt at %s\n", p.NextRetry.Format("2006-01-02 15:04:05 MST"))
				}
			}
			if st.Dataplane != "" {
				fmt.Fprintf(out, "data plane: %s (%s)\n", st.Dataplane, st.Why)
			}
			if st.UDPEncap != nil {
				fmt.Fprintln(out, udpEncapText(*st.UDPEncap))
			}
			if len(st.Counts) > 0 {
				keys := make([]string, 0, len(st.Counts))
				for k := range st.Counts {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				fmt.Fprint(out, "counts:")
				for _, k := range keys {
					fmt.Fprintf(out, " %s=%d", k, st.Counts[k])
				}
				fmt.Fprintln(out)
			}
			if st.IKESAs != nil {
				fmt.Fprintln(out, ikeSAsText(*st.IKESAs))
			}
			if st.Defences != nil {
				fmt.Fprintln(out, defencesText(*st.Defences))
			}
			fmt.Fprintf(out, "policies: %s, loaded %s\n", st.Policy.Dir, st.Policy.Loaded.Format("2006-01-02 15:04:05 MST"))
			for _, grp := range []control.Group{control.GroupClear, control.GroupClearOrPrivate, control.GroupPrivateOrClear, control.GroupPrivate, control.GroupBlock} {
				fmt.Fprintf(out, "  %-17s %d prefixes\n", grp, st.Policy.Counts[grp])
			}
			for _, w := range st.Policy.Warnings {
				fmt.Fprintf(out, "  warning: %s\n", w)
			}
			fmt.Fprintln(out, "configuration:")
			keys := make([]string, 0, len(st.Config))
			for k := range st.Config {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(out, "  %-26s %v\n", k, st.Config[k])
			}
			return nil
		},
	}
}
