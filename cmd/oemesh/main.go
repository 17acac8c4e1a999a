// Command oemesh is the operator's tool: it talks to oemeshd over its control
// socket, and carries the offline tools (policy checks, host keys, DNS
// look-ups, IKE probes) that work without a daemon.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

func main() {
	args := os.Args[1:]
	if h := hookArgs(os.Args); h != nil {
		args = h
	}
	os.Exit(execute(args, os.Stdout, os.Stderr))
}

// execute runs the command line args and returns the exit status: 0, the
// status an error carries (exitCoder), 2 for a usage error, or 1. An
// error is printed to stderr as "oemesh: MESSAGE", or with --json as the
// control API's JSON error object.
func execute(args []string, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd(args...)
	err := error(nil)
	if len(args) == 0 || !strings.HasPrefix(args[0], "__") { // not shell completion's hidden commands
		err = checkCommandLine(root, args)
	}
	if err == nil {
		err = root.Execute()
	}
	if err == nil {
		return 0
	}
	code := 1
	var ec exitCoder
	if asExitCoder(err, &ec) {
		code = ec.ExitCode()
	}
	msg := err.Error()
	if msg == "" {
		return code
	}
	if jsonWanted(root, args) {
		enc := json.NewEncoder(stderr)
		enc.SetIndent("", "  ")
		enc.Encode(control.Error{Error: msg})
		return code
	}
	fmt.Fprintln(stderr, "oemesh:", msg)
	return code
}

// jsonWanted reports whether the command line asked for JSON, even when
// it failed before its flags were parsed.
func jsonWanted(root *cobra.Command, args []string) bool {
	if f := root.PersistentFlags().Lookup("json"); f != nil && f.Value.String() == "true" {
		return true
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--json" || a == "--json=true" {
			return true
		}
	}
	return false
}
