package main

import (
	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/manpage"
)

// The man pages in dist/man are generated from the commands; TestManPagesCurrent
// fails when they are stale.
//go:generate go run . gen-man --changelog ../../CHANGELOG.md ../../dist/man

// newGenManCmd is the hidden hook that writes oemesh(8) and a page per
// subcommand (oemesh-status(8)...) into DIR, for `go generate`.
func newGenManCmd(root *cobra.Command) *cobra.Command {
	var changelog string
	cmd := &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write the man pages (for go generate)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			rel, err := manpage.LatestRelease(changelog)
			if err != nil {
				return err
			}
			return manpage.Commands(root, "8", rel, args[0])
		},
	}
	cmd.Flags().StringVar(&changelog, "changelog", "CHANGELOG.md", "the changelog whose newest release the pages name")
	return cmd
}
