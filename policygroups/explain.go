package policygroups

import "encoding/json"

// SourceString is where the matching entry was written, as FILE:LINE, or
// "default" when nothing matched.
func (m Match) SourceString() string {
	if m.Default() {
		return "default"
	}
	return m.Entry.Source.String()
}

// matchJSON is the documented JSON form of an explanation:
// {"address","group","prefix","source"}, prefix null when nothing matched.
type matchJSON struct {
	Address string  `json:"address"`
	Group   Group   `json:"group"`
	Prefix  *string `json:"prefix"`
	Source  string  `json:"source"`
	Host    string  `json:"host,omitempty"`
}

// MarshalJSON writes the form `oemesh policy explain --json` prints.
func (m Match) MarshalJSON() ([]byte, error) {
	j := matchJSON{Address: m.Addr.String(), Group: m.Group, Source: m.SourceString()}
	if !m.Default() {
		p := m.Entry.Prefix.String()
		j.Prefix = &p
		j.Host = m.Entry.Host
	}
	return json.Marshal(j)
}
