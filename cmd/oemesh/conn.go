package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/oe/conn"
)

// connRequest and connReply are the bodies of the daemon's conn API.
type connRequest struct {
	Name string `json:"name,omitempty"`
	File string `json:"file,omitempty"`
}

type connReply struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

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
		RunE: func(cmd *cobra.Command, _ []string) error {
			var cs []conn.Status
			if err := g.call(cmd.Context(), "GET", "/v1/conns", nil, &cs); err != nil {
				return err
			}
			if g.json {
				return printJSON(cmd.OutOrStdout(), cs)
			}
			if len(cs) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "no conns")
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSTATE\tROUTED\tAUTO\tAUTH\tLOCAL\tREMOTE\tTUNNELS\tTRIES\tLAST ERROR")
			for _, c := range cs {
				tries := fmt.Sprintf("%d/%d", c.Tries, c.KeyingTries)
				if c.KeyingTries == 0 {
					tries = fmt.Sprintf("%d/forever", c.Tries)
				}
				fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\t%s %s\t%s %s\t%d\t%s\t%s\n", c.Name, c.State, c.Routed, c.Auto, c.Auth,
					c.Local, strings.Join(c.LocalSubnets, ","), c.Remote, strings.Join(c.RemoteSubnets, ","), c.Tunnels, tries, c.LastError)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			for _, c := range cs {
				if c.LastUpdown != "" {
					fmt.Fprintf(cmd.OutOrStdout(), "%s updown: %s\n", c.Name, c.LastUpdown)
				}
			}
			return nil
		},
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
				return connCall(cmd, g, "/v1/conn/"+verb, connRequest{Name: args[0]})
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
			return connCall(cmd, g, "/v1/conns/add", connRequest{File: abs})
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
	var rep connReply
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
