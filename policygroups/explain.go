package policygroups

// SourceString is where the matching entry was written, as FILE:LINE, or
// "default" when nothing matched.
func (m Match) SourceString() string {
	if m.Default() {
		return "default"
	}
	return m.Entry.Source.String()
}

// Explanation is the documented form of an answer to "which group applies",
// as `oemesh policy explain --json` prints it: prefix is null and source
// "default" when nothing matched.
type Explanation struct {
	Address string  `json:"address"`
	Group   string  `json:"group"`
	Prefix  *string `json:"prefix"`
	Source  string  `json:"source"`
	Host    string  `json:"host,omitempty"`
}

// Explain returns the match in its documented form.
func (m Match) Explain() Explanation {
	ex := Explanation{Address: m.Addr.String(), Group: m.Group.String(), Source: m.SourceString()}
	if !m.Default() {
		p := m.Entry.Prefix.String()
		ex.Prefix, ex.Host = &p, m.Entry.Host
	}
	return ex
}
