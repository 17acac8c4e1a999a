package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// globalFlags are the flags every command shares.
type globalFlags struct {
	socket string
	json   bool
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:           "oemesh",
		Short:         "Control and diagnose the oemesh opportunistic-encryption daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.socket, "socket", defaultControlSocket, "oemeshd control socket")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print JSON instead of text")

	// Each command lives in a file named for it; add new ones here.
	root.AddCommand(
		newVersionCmd(g),
		newStatusCmd(g),
		newPolicyCmd(g),
		newTrafficCmd(g),
		newShuntsCmd(g),
		newPeersCmd(g),
		newUpCmd(g),
		newDownCmd(g),
		newNewHostKeyCmd(g),
		newShowHostKeyCmd(g),
		newDNSCmd(g),
		newProbeCmd(g),
		newRespondCmd(g),
		newImportCmd(g),
		newConnCmd(g),
		newSecretsCmd(g),
		newMemoryCmd(g),
		newDebugCmd(g),
	)
	root.AddCommand(newGenManCmd(root))
	explainUsage(root)
	return root
}

// exitCoder is an error that carries the process exit code (e.g. 3 for
// "no key in DNS"). An empty message prints nothing.
type exitCoder interface {
	error
	ExitCode() int
}

type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) ExitCode() int { return e.code }
func (e *exitError) Unwrap() error { return e.err }

// withExit wraps err so that oemesh exits with code.
func withExit(code int, err error) error { return &exitError{code: code, err: err} }

func asExitCoder(err error, target *exitCoder) bool { return errors.As(err, target) }
