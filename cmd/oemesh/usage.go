package main

// Usage errors: a command line that does not give a command what it
// wants exits with status 2 (as flag errors and getopt's do) and says
// what the command wanted, in words, not cobra's "accepts 1 arg(s),
// received 0". An unknown subcommand is one too, not a help text with
// status 0.

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// exitUsage is the exit status of a usage error.
const exitUsage = 2

// usageError wraps a message about the command line as a usage error.
func usageError(c *cobra.Command, format string, args ...any) error {
	return withExit(exitUsage, fmt.Errorf("%s (usage: %s; see %s --help)", fmt.Sprintf(format, args...), c.UseLine(), c.CommandPath()))
}

// placeholderText says in words what an argument placeholder of a Use
// line stands for.
var placeholderText = map[string]string{
	"ADDR":       "an address",
	"ADDR|@FQDN": "an address or @FQDN",
	"NAME":       "a name",
	"FILE":       "a file",
	"PEER":       "a peer address",
	"DIR":        "a directory",
}

// wantedArgs lists the positional placeholders of c's Use line, leaving
// out flags and their values ("respond --listen ADDR" has none).
func wantedArgs(c *cobra.Command) []string {
	var out []string
	fields := strings.Fields(c.Use)
	for i := 1; i < len(fields); i++ {
		f := fields[i]
		switch {
		case strings.HasPrefix(f, "--"):
			i++ // and its value
		case strings.HasPrefix(f, "-"), strings.HasPrefix(f, "("), strings.HasPrefix(f, "["):
		default:
			out = append(out, f)
		}
	}
	return out
}

// wantedText says what c's arguments are, in words.
func wantedText(c *cobra.Command) string {
	w := wantedArgs(c)
	if len(w) == 1 {
		if t, ok := placeholderText[w[0]]; ok {
			return t
		}
	}
	return strings.Join(w, " ")
}

// name is c's path without the program's name ("policy explain").
func name(c *cobra.Command) string {
	return strings.TrimPrefix(c.CommandPath(), c.Root().Name()+" ")
}

// explainArgs turns c's argument validator's refusal into a usage error
// that says what c wanted.
func explainArgs(c *cobra.Command, args []string) error {
	w := wantedArgs(c)
	switch {
	case c.HasAvailableSubCommands():
		return unknownSubcommand(c, args[0])
	case len(w) == 0:
		return usageError(c, "%s takes no arguments, got %q", name(c), strings.Join(args, " "))
	case len(args) == 0:
		return usageError(c, "%s needs %s", name(c), wantedText(c))
	case len(args) < len(w):
		return usageError(c, "%s needs %s, got %d argument(s)", name(c), wantedText(c), len(args))
	}
	return usageError(c, "%s takes %s only, got %d arguments: %q", name(c), wantedText(c), len(args), strings.Join(args, " "))
}

// unknownSubcommand is the usage error of `oemesh GROUP WORD` when the
// group has no command WORD.
func unknownSubcommand(c *cobra.Command, word string) error {
	var subs []string
	for _, s := range c.Commands() {
		if s.IsAvailableCommand() {
			subs = append(subs, s.Name())
		}
	}
	slices.Sort(subs)
	return usageError(c, "%s has no command %q; its commands: %s", name(c), word, strings.Join(subs, ", "))
}

// explainUsage makes every command in root's tree report its usage errors
// as usageError does: wrong arguments, bad flags, unknown subcommands.
func explainUsage(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError(c, "%s: %v", name(c), err)
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if check := c.Args; check != nil {
			c.Args = func(c *cobra.Command, args []string) error {
				if check(c, args) != nil {
					return explainArgs(c, args)
				}
				return nil
			}
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}

// checkCommandLine refuses, before cobra runs anything, a command line
// that names no command: an unknown command, or an unknown subcommand of
// a group such as dns (cobra would print the group's help and exit 0).
func checkCommandLine(root *cobra.Command, args []string) error {
	c, rest, err := root.Find(args)
	if err != nil {
		if c == nil {
			c = root
		}
		word := strings.Join(rest, " ")
		if pos := positional(c, rest); len(pos) > 0 {
			word = pos[0]
		}
		return unknownSubcommand(c, word)
	}
	if c.Runnable() || !c.HasAvailableSubCommands() {
		return nil
	}
	if pos := positional(c, rest); len(pos) > 0 && pos[0] != "help" {
		return unknownSubcommand(c, pos[0])
	}
	return nil
}

// positional is args less c's flags; nil when they do not parse (cobra
// reports that itself). The flags are parsed into a set of their own, so
// that c's stays as cobra built it, but the values are c's: only for a
// command that does not run (a group), whose flags are the persistent
// string and bool ones, which cobra's own parse then sets to the same.
func positional(c *cobra.Command, args []string) []string {
	fs := pflag.NewFlagSet(c.Name(), pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.AddFlagSet(c.Flags())
	fs.AddFlagSet(c.InheritedFlags())
	if err := fs.Parse(args); err != nil {
		return nil
	}
	return fs.Args()
}
