package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/control"
)

func newConnCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conn",
		Short: "Configured connections: list, up, down, route, unroute, replace, add",
		Long: `Configured connections (the conns: list of oemesh.yaml) run beside
opportunistic encryption, as FreeS/WAN's 'ipsec auto' commands ran them:
route traps a conn's remote subnets, up negotiates now (keying_tries times)
and keeps the tunnel up, down deletes its SAs (a routed conn stays routed),
unroute removes its trap, replace re-reads it from its file, add reads the
conns of a file without a restart.`,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the conns with their state, tunnels and last error",
		Args:  cobra.NoArgs,
		RunE:  listRunE(g, "/v1/conns", "no conns", writeConns),
	})
	for _, v := range []struct{ verb, short string }{
		{"up", "Negotiate the conn now (up to keying_tries) and keep it up"},
		{"down", "Delete the conn's SAs; a routed conn stays routed"},
		{"route", "Trap the conn's remote subnets: their first packet brings it up"},
		{"unroute", "Remove the conn's trap"},
		{"replace", "Re-read the conn from its file and put the new version in force"},
	} {
		verb := v.verb
		cmd.AddCommand(&cobra.Command{
			Use:   verb + " NAME",
			Short: v.short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				return connCall(cmd, g, "/v1/conn/"+verb, control.ConnRequest{Name: args[0]})
			},
		})
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "add FILE",
		Short: "Add the conns of a YAML or TOML file (a conns: list) without a restart",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			abs, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			return connCall(cmd, g, "/v1/conns/add", control.ConnRequest{File: abs})
		},
	})
	return cmd
}

func newSecretsCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Pre-shared keys of the conns",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "reload",
		Short: "Re-read the secrets files the PSK conns name (ipsec auto --rereadsecrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return connCall(cmd, g, "/v1/secrets/reload", nil)
		},
	})
	return cmd
}

func connCall(cmd *cobra.Command, g *globalFlags, path string, req any) error {
	var rep control.ConnReply
	if err := g.call(cmd.Context(), "POST", path, req, &rep); err != nil {
		return err
	}
	if g.json {
		if err := printJSON(cmd.OutOrStdout(), rep); err != nil {
			return err
		}
	} else if rep.OK {
		fmt.Fprintln(cmd.OutOrStdout(), rep.Detail)
	}
	if !rep.OK {
		return withExit(1, errors.New(rep.Detail))
	}
	return nil
}

// writeConns prints the conns as `oemesh conn list`'s table, then the
// last updown output of each that has one.
func writeConns(out io.Writer, cs []control.ConnStatus) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSTATE\tROUTED\tAUTO\tAUTH\tLOCAL\tREMOTE\tTUNNELS\tTRIES\tLAST ERROR")
	for _, c := range cs {
		tries := fmt.Sprintf("%d/%d", c.Tries, c.KeyingTries)
		if c.KeyingTries == 0 {
			tries = fmt.Sprintf("%d/forever", c.Tries)
		}
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\t%s %s\t%s %s\t%d\t%s\t%s\n", c.Name, c.State, c.Routed, c.Auto, authText(c.Auth),
			c.Local, strings.Join(c.LocalSubnets, ","), c.Remote, strings.Join(c.RemoteSubnets, ","), c.Tunnels, tries, c.LastError)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, c := range cs {
		if c.LastUpdown != "" {
			fmt.Fprintf(out, "%s updown: %s\n", c.Name, c.LastUpdown)
		}
	}
	return nil
}
