package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/version"
)

const defaultControlSocket = "/run/oemesh/oemeshd.sock"

func newVersionCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print oemesh's version, commit and build date",
		Long: `Print the version of this oemesh binary: the release, the commit it was built
from and its date, and the Go release. oemeshd --version and the daemon's
oemesh_build_info metric show the same values for the same build.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version.Get()
			if g.json {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(v)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "oemesh %s\n", v)
			return nil
		},
	}
}
