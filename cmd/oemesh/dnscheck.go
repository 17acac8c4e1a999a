package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/miekg/dns"
	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/config"
)

// dnsCheckOutput is `oemesh dns check --json`.
type dnsCheckOutput struct {
	Identity    string        `json:"identity"`
	Key         string        `json:"key"` // our host key's fingerprint
	Servers     []string      `json:"servers"`
	Rows        []dnsCheckRow `json:"checks"`
	Consistent  bool          `json:"consistent"`
	Mismatches  []string      `json:"mismatches"`
	RequireAuth bool          `json:"require_dnssec"`
}

// dnsCheckRow is one name and type compared.
type dnsCheckRow struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`  // IPSECKEY (with TXT and KEY) or A/AAAA
	Want   []string `json:"want"`  // our key's fingerprint, or our addresses
	Found  []string `json:"found"` // what DNS holds
	TTL    int64    `json:"ttl_seconds"`
	DNSSEC string   `json:"dnssec"` // secure, insecure or "" when nothing was found
	Status string   `json:"status"` // ok, missing, mismatch, insecure, dns-failure
	Detail string   `json:"detail,omitempty"`
}

func newDNSCheckCmd(g *globalFlags) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Compare what DNS publishes for this host with its key, identity and dns.publish",
		Long: `Look up, through the configured resolvers (dns.servers), the IPSECKEY
(and TXT, KEY) records at this host's names, the identity's and those
dns.publish names, and the A/AAAA records dns.publish.records address asks
for; compare them with the host key and the configured addresses; report
DNSSEC status (the AD bit), TTLs and every mismatch.

A name holding a key other than ours (even beside ours, as during a
rollover) is a mismatch; with dns.require_dnssec an answer without AD is
one too.

Exit status: 0 all is consistent; 1 a mismatch, a missing record, an
unsigned answer, a DNS failure, or a configuration error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := loadPublishSetup(cfgPath)
			if err != nil {
				return err
			}
			out, err := runDNSCheck(cmd.Context(), s)
			if err != nil {
				return err
			}
			if g.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return err
				}
			} else {
				printDNSCheck(cmd.OutOrStdout(), out)
			}
			if out.Consistent {
				return nil
			}
			if g.json {
				return withExit(1, nil)
			}
			return withExit(1, fmt.Errorf("DNS is not consistent with this host: %s", strings.Join(out.Mismatches, "; ")))
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", config.DefaultFile, "oemeshd's configuration file")
	return cmd
}

func runDNSCheck(ctx context.Context, s *publishSetup) (dnsCheckOutput, error) {
	ours := dnskey.Fingerprint(s.hostKey.Public())
	out := dnsCheckOutput{Identity: s.cfg.Identity, Key: ours, Servers: s.resolvers, Rows: []dnsCheckRow{},
		Mismatches: []string{}, RequireAuth: s.cfg.DNS.RequireDNSSEC}
	var ids []dnskey.ID
	if s.cfg.Identity != "" {
		id, err := dnskey.ParseID(s.cfg.Identity)
		if err != nil {
			return out, fmt.Errorf("identity: %w", err)
		}
		ids = append(ids, id)
	}
	if s.cfg.DNS.Publish.Enabled() {
		if s.spec.AtForward {
			ids = append(ids, dnskey.ID{FQDN: dns.CanonicalName(s.spec.Forward)})
		}
		if s.spec.AtReverse {
			for _, a := range s.spec.Addresses {
				ids = append(ids, dnskey.ID{Addr: a})
			}
		}
	}
	seen := map[dnskey.ID]bool{}
	// Every answer is looked at, signed or not: check reports DNSSEC
	// itself.
	r, err := dnskey.New(dnskey.Config{Servers: s.resolvers, Timeout: s.cfg.DNS.Timeout, AcceptInsecure: true,
		MinTTL: time.Millisecond, MaxTTL: time.Millisecond})
	if err != nil {
		return out, err
	}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		out.Rows = append(out.Rows, checkKeys(ctx, r, id, ours, s.cfg.DNS.RequireDNSSEC))
	}
	if s.cfg.DNS.Publish.Enabled() && s.spec.AddressRecords {
		out.Rows = append(out.Rows, checkAddresses(ctx, s))
	}
	if len(out.Rows) == 0 {
		return out, errors.New("nothing to check: set an address or @fqdn identity, or dns.publish")
	}
	out.Consistent = true
	for _, row := range out.Rows {
		if row.Status != "ok" {
			out.Consistent = false
			out.Mismatches = append(out.Mismatches, fmt.Sprintf("%s %s: %s: %s", row.Type, row.Name, row.Status, row.Detail))
		}
	}
	return out, nil
}

func checkKeys(ctx context.Context, r *dnskey.Resolver, id dnskey.ID, ours string, requireDNSSEC bool) dnsCheckRow {
	name, _ := id.QueryName()
	row := dnsCheckRow{Name: name, Type: "IPSECKEY", Want: []string{ours}, Found: []string{}}
	res, err := r.Lookup(ctx, id)
	switch {
	case errors.Is(err, dnskey.ErrNoKey):
		row.Status, row.Detail = "missing", err.Error()
		return row
	case err != nil:
		row.Status, row.Detail = "dns-failure", err.Error()
		return row
	}
	found, secure := false, true
	var others []string
	for _, k := range res.Keys {
		f := k.Fingerprint()
		if f == "" {
			f = "(no key, gateway " + k.Gateway.String() + ")"
		}
		row.Found = append(row.Found, k.Source.String()+" "+f)
		if f == ours {
			found = true
			secure = secure && k.Secure
			if row.TTL == 0 || int64(k.TTL/time.Second) < row.TTL {
				row.TTL = int64(k.TTL / time.Second)
			}
		} else {
			others = append(others, f)
		}
	}
	row.DNSSEC = "secure"
	if !secure || res.Insecure {
		row.DNSSEC = "insecure"
	}
	switch {
	case !found:
		row.Status, row.Detail = "mismatch", "our key "+ours+" is not published; DNS holds "+strings.Join(others, ", ")
	case len(others) > 0:
		row.Status, row.Detail = "mismatch", "a key that is not ours is published beside ours: "+strings.Join(others, ", ")
	case row.DNSSEC != "secure" && requireDNSSEC:
		row.Status, row.Detail = "insecure", "the answer has no AD bit and dns.require_dnssec is on: peers will not use it"
	default:
		row.Status = "ok"
	}
	return row
}

// checkAddresses compares the A and AAAA records at the forward name with
// dns.publish's addresses.
func checkAddresses(ctx context.Context, s *publishSetup) dnsCheckRow {
	name := dns.CanonicalName(s.spec.Forward)
	row := dnsCheckRow{Name: name, Type: "A/AAAA", Want: []string{}, Found: []string{}, DNSSEC: "secure"}
	for _, a := range s.spec.Addresses {
		row.Want = append(row.Want, a.Unmap().String())
	}
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		q := new(dns.Msg)
		q.SetQuestion(name, t)
		q.SetEdns0(1232, true)
		q.AuthenticatedData = true
		var resp *dns.Msg
		var errs []string
		for _, srv := range s.resolvers {
			c := &dns.Client{Timeout: s.cfg.DNS.Timeout}
			r, _, err := c.ExchangeContext(ctx, q, srv)
			if err == nil && r.Truncated {
				c.Net = "tcp"
				r, _, err = c.ExchangeContext(ctx, q, srv)
			}
			if err != nil {
				errs = append(errs, srv+": "+err.Error())
				continue
			}
			resp = r
			break
		}
		if resp == nil {
			row.Status, row.Detail = "dns-failure", strings.Join(errs, "; ")
			return row
		}
		if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
			row.Status, row.Detail = "dns-failure", dns.TypeToString[t]+": "+dns.RcodeToString[resp.Rcode]
			return row
		}
		if !resp.AuthenticatedData {
			row.DNSSEC = "insecure"
		}
		for _, rr := range resp.Answer {
			var a netip.Addr
			switch rr := rr.(type) {
			case *dns.A:
				a, _ = netip.AddrFromSlice(rr.A.To4())
			case *dns.AAAA:
				a, _ = netip.AddrFromSlice(rr.AAAA)
			default:
				continue
			}
			row.Found = append(row.Found, a.String())
			if ttl := int64(rr.Header().Ttl); row.TTL == 0 || ttl < row.TTL {
				row.TTL = ttl
			}
		}
	}
	want, got := slices.Sorted(slices.Values(row.Want)), slices.Sorted(slices.Values(row.Found))
	switch {
	case len(got) == 0:
		row.Status, row.Detail, row.DNSSEC = "missing", "no A or AAAA records", ""
	case !slices.Equal(want, got):
		row.Status, row.Detail = "mismatch", "DNS holds "+strings.Join(got, ", ")+", the host has "+strings.Join(want, ", ")
	case row.DNSSEC != "secure" && s.cfg.DNS.RequireDNSSEC:
		row.Status, row.Detail = "insecure", "the answer has no AD bit and dns.require_dnssec is on"
	default:
		row.Status = "ok"
	}
	return row
}

func printDNSCheck(w io.Writer, out dnsCheckOutput) {
	fmt.Fprintf(w, "host key %s, identity %s, via %s\n", out.Key, orNone(out.Identity), strings.Join(out.Servers, ", "))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSTATUS\tDNSSEC\tTTL\tFOUND")
	for _, r := range out.Rows {
		found := strings.Join(r.Found, ", ")
		if found == "" {
			found = "-"
		}
		sec := r.DNSSEC
		if sec == "" {
			sec = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%ds\t%s\n", r.Name, r.Type, r.Status, sec, r.TTL, found)
	}
	tw.Flush()
	for _, r := range out.Rows {
		if r.Detail != "" {
			fmt.Fprintf(w, "%s %s: %s\n", r.Type, r.Name, r.Detail)
		}
	}
	if out.Consistent {
		fmt.Fprintln(w, "consistent")
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
