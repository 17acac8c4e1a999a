package main

import "testing"

// TestRekeyFuzz: oe.rekey_fuzz 0% must reach the engine as no fuzz, not
// as its zero value, which means the default of 50%.
func TestRekeyFuzz(t *testing.T) {
	if got := rekeyFuzz(0); got >= 0 {
		t.Errorf("0%%: engine RekeyFuzz %v, want negative (none)", got)
	}
	for _, f := range []float64{0.25, 0.5, 1} {
		if got := rekeyFuzz(f); got != f {
			t.Errorf("%v: engine RekeyFuzz %v", f, got)
		}
	}
}
