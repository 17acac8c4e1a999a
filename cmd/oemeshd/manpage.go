package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/manpage"
)

// The man pages in dist/man are generated from the command and the
// configuration schema; TestManPagesCurrent fails when they are stale.
//go:generate go run . --gen-man ../../dist/man --gen-man-changelog ../../CHANGELOG.md

// genManFlags is the hidden hook that writes oemeshd(8) and oemesh.yaml(5)
// into a directory instead of running the daemon, for `go generate`.
type genManFlags struct {
	dir, changelog string
}

func (g *genManFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&g.dir, "gen-man", "", "write the man pages into this directory and exit (for go generate)")
	cmd.Flags().StringVar(&g.changelog, "gen-man-changelog", "CHANGELOG.md", "the changelog whose newest release the pages name")
	cmd.Flags().MarkHidden("gen-man")
	cmd.Flags().MarkHidden("gen-man-changelog")
}

// write writes the pages of root.
func (g *genManFlags) write(root *cobra.Command) error {
	rel, err := manpage.LatestRelease(g.changelog)
	if err != nil {
		return err
	}
	if err := manpage.Commands(root, "8", rel, g.dir); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(g.dir, "oemesh.yaml.5"))
	if err != nil {
		return fmt.Errorf("man page: %w", err)
	}
	if err := manpage.Config(f, config.Reference(), rel); err != nil {
		f.Close()
		return fmt.Errorf("man page %s: %w", f.Name(), err)
	}
	return f.Close()
}
