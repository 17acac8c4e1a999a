package policygroups

// SourceString is where the matching entry was written, as FILE:LINE,
// "default" when nothing matched, or "oemeshd exemption" for a host the
// daemon exempted (Policy.Exempt).
func (m Match) SourceString() string {
	if m.Default() {
		return "default"
	}
	if m.Entry.Exemption != "" {
		return m.Entry.Source.File
	}
	return m.Entry.Source.String()
}

// Explanation answers "which group applies, and why" for `oemesh policy
// explain`. It is plain data; the control API's form (and its JSON) is
// control.Explanation.
type Explanation struct {
	// Address is the address asked about, as text.
	Address string
	// Group is the group that applies.
	Group Group
	// Prefix is the matching prefix as text, or nil when nothing matched
	// (Group is then Clear, the default).
	Prefix *string
	// Source is FILE:LINE of the matching entry, or "default".
	Source string
	// Host is the host name the entry was written as, if any.
	Host string
	// Exemption is why the daemon exempted the address from OE (e.g. "DNS
	// server from /etc/resolv.conf"), or "" when the files decided.
	Exemption string
	// PortExclusion is the portexcludes.conf line (as it reads back) that
	// keeps the flow clear, or "". Source is then its FILE:LINE.
	PortExclusion string
}

// ExplainFlow explains the flow f: a port exclusion that matches it
// decides (clear), or else the group of f.Dst, as Lookup.
func (p *Policy) ExplainFlow(f Flow) Explanation {
	if x, ok := p.Excluded(f); ok {
		ex := Explanation{Address: f.Dst.Unmap().WithZone("").String(), Group: Clear, Source: x.Pos.String(), PortExclusion: x.String()}
		if x.Remote.Prefix.IsValid() {
			s := x.Remote.Prefix.String()
			ex.Prefix = &s
		}
		return ex
	}
	return p.Lookup(f.Dst).Explain()
}

// Explain returns the match as an Explanation.
func (m Match) Explain() Explanation {
	ex := Explanation{Address: m.Addr.String(), Group: m.Group, Source: m.SourceString()}
	if !m.Default() {
		p := m.Entry.Prefix.String()
		ex.Prefix, ex.Host, ex.Exemption = &p, m.Entry.Host, m.Entry.Exemption
	}
	return ex
}
