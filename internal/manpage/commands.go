package manpage

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Commands writes the man pages of root and of each of its visible
// subcommands into dir, in section ("8"): oemesh.8, oemesh-status.8 and
// so on. Pages of root's name that the commands no longer have are removed
// first, so a removed command leaves no stale page behind.
func Commands(root *cobra.Command, section string, rel Release, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	name := root.Name()
	old, err := filepath.Glob(filepath.Join(dir, name+"-*."+section))
	if err != nil {
		return err
	}
	old = append(old, filepath.Join(dir, name+"."+section))
	for _, f := range old {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("man pages: removing the old %s: %w", f, err)
		}
	}
	root.DisableAutoGenTag = true // the footer would hold the generation date
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	header := &doc.GenManHeader{
		Section: section,
		Date:    &rel.Date,
		Source:  "oemesh " + rel.Version,
		Manual:  "oemesh Manual",
	}
	if err := doc.GenManTree(root, header, dir); err != nil {
		return fmt.Errorf("man pages of %s: %w", name, err)
	}
	return nil
}
