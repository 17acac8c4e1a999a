package xfrm

import "fmt"

// attr is one netlink attribute.
type attr struct {
	Type  uint16
	Value []byte
}

// parseAttrs walks netlink attributes with every length checked (the
// library's ParseRouteAttr panics on a bad length).
func parseAttrs(b []byte) ([]attr, error) {
	var out []attr
	for len(b) > 0 {
		if len(b) < 4 {
			return out, fmt.Errorf("attribute header: %d bytes left, want 4", len(b))
		}
		l := int(ne.Uint16(b))
		if l < 4 || l > len(b) {
			return out, fmt.Errorf("attribute type %d: length %d outside 4..%d", ne.Uint16(b[2:]), l, len(b))
		}
		out = append(out, attr{Type: ne.Uint16(b[2:]) & 0x3fff, Value: b[4:l]})
		next := (l + 3) &^ 3
		if next > len(b) {
			next = len(b)
		}
		b = b[next:]
	}
	return out, nil
}
