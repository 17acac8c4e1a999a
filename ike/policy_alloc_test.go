package ike

import (
	"reflect"
	"testing"
)

// TestSelectAllocs checks what a responder's choice among a usual offer
// costs: the transforms of each proposal are sorted on the stack and a
// Selection is allocated for the chosen proposal only, and the answer's
// proposal is one allocation, not a slice grown transform by transform.
func TestSelectAllocs(t *testing.T) {
	for _, c := range []struct {
		name string
		pol  Policy
		spi  []byte
		dh   DHGroup
	}{
		{"IKE", DefaultIKEPolicy(), nil, DHCurve25519},
		{"ESP", DefaultESPPolicy(), []byte{1, 2, 3, 4}, DHNone},
	} {
		offer := c.pol.Proposals(c.spi, c.dh)
		if len(offer) < 2 {
			t.Fatalf("%s: offer of %d proposals, want at least 2 to choose among", c.name, len(offer))
		}
		var sel *Selection
		allocs := testing.AllocsPerRun(50, func() {
			var err error
			if sel, err = c.pol.Select(offer); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > 1 {
			t.Errorf("%s: Select among %d proposals: %v allocations, want 1", c.name, len(offer), allocs)
		}
		var answer Proposal
		allocs = testing.AllocsPerRun(50, func() { answer = sel.Proposal(c.spi) })
		if allocs > 1 {
			t.Errorf("%s: Selection.Proposal: %v allocations, want 1", c.name, allocs)
		}
		// The answer names exactly what was chosen: offered back, it is
		// chosen again.
		again, err := c.pol.Select([]Proposal{answer})
		if err != nil || !reflect.DeepEqual(again, sel) {
			t.Errorf("%s: answer %v selects %+v, %v; want %+v", c.name, answer.Transforms, again, err, sel)
		}
	}
}
