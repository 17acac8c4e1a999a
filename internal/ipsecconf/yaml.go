package ipsecconf

import (
	"fmt"
	"strconv"
	"strings"
)

// YAML renders the converted conns as oemesh.yaml's `conns:` list, with the
// notes as comments and the unsupported settings listed at the top.
func (r Result) YAML() string {
	var b strings.Builder
	b.WriteString("# Converted by oemesh import.\n")
	if len(r.Unsupported) > 0 {
		b.WriteString("# Not carried over (check each):\n")
		for _, p := range r.Unsupported {
			b.WriteString("#   " + p.String() + "\n")
		}
	}
	if r.OE != nil {
		r.OE.yaml(&b)
	}
	b.WriteString("conns:\n")
	for _, c := range r.Conns {
		for _, n := range c.Notes {
			b.WriteString("  # " + n + "\n")
		}
		fmt.Fprintf(&b, "  - name: %s\n", q(c.Name))
		str := func(k, v string) {
			if v != "" {
				fmt.Fprintf(&b, "    %s: %s\n", k, q(v))
			}
		}
		list := func(k string, v []string) {
			if len(v) == 0 {
				return
			}
			qs := make([]string, len(v))
			for i, s := range v {
				qs[i] = q(s)
			}
			fmt.Fprintf(&b, "    %s: [%s]\n", k, strings.Join(qs, ", "))
		}
		boolean := func(k string, v *bool) {
			if v != nil {
				fmt.Fprintf(&b, "    %s: %t\n", k, *v)
			}
		}
		str("local", c.Local)
		str("remote", c.Remote)
		list("local_subnets", c.LocalSubnets)
		list("remote_subnets", c.RemoteSubnets)
		str("local_id", c.LocalID)
		str("remote_id", c.RemoteID)
		str("auth", c.Auth)
		str("remote_key", c.RemoteKey)
		str("psk", c.PSK)
		str("cert", c.Cert)
		str("key", c.Key)
		str("ca", c.CA)
		str("ocsp", c.OCSP)
		str("mode", c.Mode)
		str("ike", c.IKE)
		str("esp", c.ESP)
		str("ike_lifetime", c.IKELifetime)
		str("lifetime", c.Lifetime)
		boolean("rekey", c.Rekey)
		if c.KeyingTries != nil {
			fmt.Fprintf(&b, "    keying_tries: %d\n", *c.KeyingTries)
		}
		if c.DPDInterval != "" || c.DPDAction != "" {
			var parts []string
			if c.DPDInterval != "" {
				parts = append(parts, "interval: "+q(c.DPDInterval))
			}
			if c.DPDAction != "" {
				parts = append(parts, "action: "+q(c.DPDAction))
			}
			fmt.Fprintf(&b, "    dpd: {%s}\n", strings.Join(parts, ", "))
		}
		str("auto", c.Auto)
		boolean("unique_ids", c.UniqueIDs)
		boolean("copy_dscp", c.CopyDSCP)
		str("updown", c.Updown)
	}
	return b.String()
}

// q quotes a YAML scalar (JSON string syntax is valid YAML).
func q(s string) string { return strconv.Quote(s) }

// yaml writes the oe: section, and the policy groups as comments: the
// groups' prefixes stay in the policy files, which oemeshd reads from
// policies: (by default Libreswan's /etc/ipsec.d/policies).
func (o *OESettings) yaml(b *strings.Builder) {
	if len(o.Groups) > 0 {
		b.WriteString("# Opportunistic encryption: the policy groups these conns served; oemeshd reads\n")
		b.WriteString("# their prefixes from the files of the same names in policies: (default /etc/ipsec.d/policies).\n")
		for _, g := range o.Groups {
			fmt.Fprintf(b, "#   %s (conn %s, %s:%d)\n", g.Group, g.Conn, g.File, g.Line)
		}
	}
	for _, n := range o.Notes {
		b.WriteString("# " + n + "\n")
	}
	b.WriteString("oe:\n")
	str := func(k, v string) {
		if v != "" {
			fmt.Fprintf(b, "  %s: %s\n", k, q(v))
		}
	}
	str("null_auth", o.NullAuth)
	str("negotiation_shunt", o.NegotiationShunt)
	str("negotiation_timeout", o.NegotiationTimeout)
	str("ike_lifetime", o.IKELifetime)
	str("child_lifetime", o.ChildLifetime)
	str("trust_certificates", o.TrustCertificates)
	str("cert", o.Cert)
	str("cert_key", o.CertKey)
	str("cert_answer", o.CertAnswer)
	if len(o.AddressPool) > 0 {
		qs := make([]string, len(o.AddressPool))
		for i, p := range o.AddressPool {
			qs[i] = q(p)
		}
		fmt.Fprintf(b, "  address_pool: [%s]\n", strings.Join(qs, ", "))
	}
	if o.NullAuth == "" && o.NegotiationShunt == "" && o.NegotiationTimeout == "" && o.IKELifetime == "" && o.ChildLifetime == "" && o.TrustCertificates == "" && o.Cert == "" && len(o.AddressPool) == 0 {
		b.WriteString("  {}\n")
	}
}
