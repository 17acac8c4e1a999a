package peers

import (
	"context"
	"fmt"
	"slices"
)

// Algorithms returns the algorithms charon's loaded plugins offer (vici get-algorithms, what
// `swanctl --list-algs` prints), by type: "encryption", "aead", "prf", "ke" (6.x; 5.9 calls
// it "dh") and so on, each a sorted list of names such as "ML_KEM_768" or "CURVE_25519".
func (s *StrongSwan) Algorithms(ctx context.Context) (map[string][]string, error) {
	resp, err := viciCall(ctx, s.vici, "get-algorithms", nil, "", nil)
	if err != nil {
		return nil, fmt.Errorf("charon in netns %s: %w", s.NS, err)
	}
	return parseAlgorithms(resp)
}

// parseAlgorithms decodes get-algorithms' answer: one section per type, whose keys are the
// algorithm names and whose values the plugins that provide them.
func parseAlgorithms(m *ViciMessage) (map[string][]string, error) {
	out := map[string][]string{}
	for _, typ := range m.Keys() {
		sec := m.Section(typ)
		if sec == nil {
			return nil, fmt.Errorf("vici get-algorithms: %q is not a section", typ)
		}
		names := sec.Keys()
		slices.Sort(names)
		out[typ] = names
	}
	return out, nil
}
