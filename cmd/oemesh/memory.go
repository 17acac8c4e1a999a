package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

func newMemoryCmd(g *globalFlags) *cobra.Command {
	var gc bool
	var profile string
	cmd := &cobra.Command{
		Use:   "memory",
		Short: "Show the daemon's memory: live heap, heap goal, resident set",
		Long: `Show the daemon's memory as the Go runtime (live heap after the last
garbage collection, heap goal, memory mapped) and the kernel (VmRSS,
RssAnon) see it. --gc collects garbage first, so the live heap is
exact now; --heap-profile FILE also saves a pprof heap profile
(go tool pprof FILE).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := ""
			if gc {
				q = "?gc=1"
			}
			if profile != "" {
				f, err := os.Create(profile)
				if err != nil {
					return fmt.Errorf("--heap-profile: %w", err)
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
				err = control.NewClient(g.socket).Fetch(ctx, "/v1/debug/heap"+q, f)
				cancel()
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(profile)
					return fmt.Errorf("heap profile: %w", err)
				}
				q = "" // the profile's request collected already
			}
			var m control.Memory
			if err := g.call(cmd.Context(), "GET", "/v1/memory"+q, nil, &m); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if g.json {
				return printJSON(out, m)
			}
			when := "at the last collection"
			if gc {
				when = "now (collected first)"
			}
			fmt.Fprintf(out, "live heap:   %s, %d objects, %s\n", size(m.HeapLive), m.HeapObjects, when)
			fmt.Fprintf(out, "heap goal:   %s (next collection)\n", size(m.HeapGoal))
			fmt.Fprintf(out, "mapped:      %s by the Go runtime, %d collections\n", size(m.Mapped), m.GCCycles)
			fmt.Fprintf(out, "resident:    %s (anonymous %s)\n", size(m.RSS), size(m.RSSAnon))
			if profile != "" {
				fmt.Fprintf(out, "heap profile: %s (go tool pprof %s)\n", profile, profile)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&gc, "gc", false, "collect garbage first")
	cmd.Flags().StringVar(&profile, "heap-profile", "", "save a pprof heap profile to `FILE`")
	return cmd
}

func size(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
