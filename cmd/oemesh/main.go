// Command oemesh is the operator's tool: it talks to oemeshd over its control
// socket, and carries the offline tools (policy checks, host keys, DNS
// look-ups, IKE probes) that work without a daemon.
package main

import (
	"fmt"
	"os"
)

func main() {
	root := newRootCmd()
	if args := hookArgs(os.Args); args != nil {
		root.SetArgs(args)
	}
	if err := root.Execute(); err != nil {
		var ec exitCoder
		if asExitCoder(err, &ec) {
			if msg := err.Error(); msg != "" {
				fmt.Fprintln(os.Stderr, "oemesh:", msg)
			}
			os.Exit(ec.ExitCode())
		}
		fmt.Fprintln(os.Stderr, "oemesh:", err)
		os.Exit(1)
	}
}
