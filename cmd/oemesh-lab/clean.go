package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// runLive reports whether the namespace belongs to a run still going: its
// name is <prefix><pid>-<node> and that pid is an oemesh-lab process.
func runLive(ns, prefix string) bool {
	head, _, _ := strings.Cut(strings.TrimPrefix(ns, prefix), "-")
	pid, err := strconv.Atoi(head)
	if err != nil {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "oemesh-lab"
}

// newCleanCmd removes what a run killed with SIGKILL (which no program
// can catch) left behind: namespaces named <prefix>*-* and the processes
// still running in them.
func newCleanCmd() *cobra.Command {
	var prefix string
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove the namespaces and daemons of lab runs that were killed with SIGKILL (runs still going are left alone)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return &exitError{exitSetup, fmt.Errorf("needs root to remove network namespaces")}
			}
			if prefix == "" {
				return &exitError{exitSetup, fmt.Errorf("--prefix must not be empty")}
			}
			entries, err := os.ReadDir("/run/netns")
			if err != nil && !os.IsNotExist(err) {
				return err
			}
			n := 0
			for _, e := range entries {
				if !strings.HasPrefix(e.Name(), prefix) || !strings.Contains(e.Name(), "-") || runLive(e.Name(), prefix) {
					continue
				}
				out, _ := exec.Command("ip", "netns", "pids", e.Name()).Output()
				for _, f := range strings.Fields(string(out)) {
					if pid, err := strconv.Atoi(f); err == nil {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
					return fmt.Errorf("ip netns del %s: %v: %s", e.Name(), err, out)
				}
				n++
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d namespaces named %s*\n", n, prefix)
			return nil
		},
	}
	cmd.Flags().StringVar(&prefix, "prefix", "oelab", "namespace name prefix of the runs to remove")
	return cmd
}
