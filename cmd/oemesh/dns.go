package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/dnskey"
)

func newDNSCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dns",
		Short: "Diagnose peers' keys in DNS; hand oemeshd the keys of name look-ups; publish and check this host's",
	}
	cmd.AddCommand(newDNSLookupCmd(g), newDNSHookCmd(g), newDNSBindingsCmd(g), newDNSPublishCmd(), newDNSRolloverCmd(), newDNSCheckCmd(g),
		newDNSCacheCmd(g), newDNSFlushCmd(g))
	return cmd
}

type dnsLookupOutput struct {
	ID       string             `json:"id"`
	Name     string             `json:"name"`
	Servers  []string           `json:"servers"`
	Status   string             `json:"status"` // found, no-key, dns-failure
	Error    string             `json:"error,omitempty"`
	Keys     []dnsLookupKey     `json:"keys"`
	Skipped  []dnsLookupSkipped `json:"skipped"`
	Insecure bool               `json:"insecure"`
	Outcome  []string           `json:"outcome"`
	Failures []string           `json:"failures,omitempty"`
}

type dnsLookupKey struct {
	Source      string `json:"source"`
	Precedence  *int   `json:"precedence"` // null for KEY records
	Gateway     string `json:"gateway"`
	Algorithm   string `json:"algorithm"`
	Fingerprint string `json:"fingerprint"` // "" for a TXT record without a key
	TTL         int64  `json:"ttl_seconds"`
	Secure      bool   `json:"secure"`
	Connectable bool   `json:"connectable"`
	Record      string `json:"record"`
}

// dnsLookupSkipped is a record found but not used, and why.
type dnsLookupSkipped struct {
	Record string `json:"record"` // the record in presentation format
	Reason string `json:"reason"` // why it was not used, for people
}

func newDNSLookupCmd(g *globalFlags) *cobra.Command {
	var servers []string
	var insecure bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "lookup ADDR|@FQDN",
		Short: "Look up a peer's keys (IPSECKEY, TXT, KEY) in DNS",
		Long: `Look up the IPSECKEY, TXT X-IPsec-Server and KEY records of an ID (the reverse
name of an address, or the FQDN of @FQDN), as oemeshd would, and print every
key found, lowest precedence first, and every record skipped with the reason.
Fingerprints are SHA256: and the base64 of the SHA-256 of the key's DER
SubjectPublicKeyInfo. Needs no daemon.

Unless --insecure, only answers with the AD bit (DNSSEC-validated by the
resolver) are used, as with dns.require_dnssec.

Exit status: 0 a usable key was found; 3 none (NXDOMAIN, no records, or only
records that do not parse or are not DNSSEC-validated); 1 DNS failed (timeout,
SERVFAIL) or bad arguments.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := dnskey.ParseID(args[0])
			if err != nil {
				return err
			}
			r, err := dnskey.New(dnskey.Config{Servers: servers, Timeout: timeout, AcceptInsecure: insecure})
			if err != nil {
				return err
			}
			res, lerr := r.Lookup(cmd.Context(), id)
			out := lookupOutput(res, r.Servers(), lerr)
			if g.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else {
				printLookup(cmd.OutOrStdout(), out)
			}
			switch out.Status {
			case "found":
				return nil
			case "no-key":
				if g.json {
					return withExit(3, nil)
				}
				return withExit(3, errors.New(out.Error))
			}
			if g.json {
				return withExit(1, nil)
			}
			return withExit(1, errors.New(out.Error))
		},
	}
	cmd.Flags().StringSliceVar(&servers, "server", nil, "resolver HOST:PORT to ask (repeatable; default: /etc/resolv.conf)")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "use answers without the AD bit (dns.require_dnssec=false)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "per-query timeout (each server is tried twice)")
	return cmd
}

func lookupOutput(res dnskey.Result, servers []string, err error) dnsLookupOutput {
	out := dnsLookupOutput{ID: res.ID.String(), Name: res.Name, Servers: servers, Skipped: []dnsLookupSkipped{},
		Insecure: res.Insecure, Outcome: res.Outcome, Failures: res.Failures,
		Keys: []dnsLookupKey{}}
	for _, s := range res.Skipped {
		out.Skipped = append(out.Skipped, dnsLookupSkipped{Record: s.Record, Reason: s.Reason})
	}
	usable := false
	for _, k := range res.Keys {
		lk := dnsLookupKey{Source: k.Source.String(), Gateway: k.Gateway.String(), Algorithm: k.Algorithm.String(),
			Fingerprint: k.Fingerprint(), TTL: int64(k.TTL / time.Second), Secure: k.Secure,
			Connectable: k.Connectable(), Record: k.Record}
		if k.Precedence != dnskey.NoPrecedence {
			p := k.Precedence
			lk.Precedence = &p
		}
		if k.PublicKey != nil {
			usable = true
		}
		out.Keys = append(out.Keys, lk)
	}
	switch {
	case err == nil && usable:
		out.Status = "found"
	case err == nil:
		out.Status = "no-key"
		out.Error = "records name gateways but carry no key; look up the gateway's own ID"
	case errors.Is(err, dnskey.ErrNoKey):
		out.Status = "no-key"
		out.Error = err.Error()
	default:
		out.Status = "dns-failure"
		out.Error = err.Error()
	}
	return out
}

func printLookup(w io.Writer, out dnsLookupOutput) {
	fmt.Fprintf(w, "%s: %s via %s: %s\n", out.ID, out.Name, strings.Join(out.Servers, ", "), strings.Join(out.Outcome, ", "))
	if len(out.Keys) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SOURCE\tPREC\tGATEWAY\tALG\tFINGERPRINT\tTTL\tDNSSEC")
		for _, k := range out.Keys {
			prec := "-"
			if k.Precedence != nil {
				prec = fmt.Sprint(*k.Precedence)
			}
			fp := k.Fingerprint
			if fp == "" {
				fp = "(no key)"
			}
			sec := "insecure"
			if k.Secure {
				sec = "secure"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%ds\t%s\n", k.Source, prec, k.Gateway, k.Algorithm, fp, k.TTL, sec)
		}
		tw.Flush()
	}
	if len(out.Skipped) > 0 {
		fmt.Fprintf(w, "skipped %d record(s):\n", len(out.Skipped))
		for _, s := range out.Skipped {
			fmt.Fprintf(w, "  %s\n    reason: %s\n", abbreviate(s.Record), s.Reason)
		}
	}
	if out.Insecure {
		fmt.Fprintln(w, "note: some answers were not DNSSEC-validated (no AD bit); see docs/dnssec.md")
	}
	for _, f := range out.Failures {
		fmt.Fprintf(w, "warning: %s\n", f)
	}
}

// abbreviate shortens a record's long base64 key for the terminal.
func abbreviate(rec string) string {
	if len(rec) <= 160 {
		return rec
	}
	return rec[:120] + "…" + rec[len(rec)-30:]
}
