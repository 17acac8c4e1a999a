package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// listRunE is the RunE of a command that lists what GET path returns
// (traffic, shunts, peers, conn list, dns cache): the reply as it is with
// --json; else empty when there is nothing, or the table write prints.
func listRunE[T any](g *globalFlags, path, empty string, write func(io.Writer, []T) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		var xs []T
		if err := g.call(cmd.Context(), "GET", path, nil, &xs); err != nil {
			return err
		}
		if g.json {
			return printJSON(cmd.OutOrStdout(), xs)
		}
		if len(xs) == 0 {
			fmt.Fprintln(cmd.OutOrStdout(), empty)
			return nil
		}
		return write(cmd.OutOrStdout(), xs)
	}
}
