package main

import "testing"

// TestSmoke runs a short measurement so the benchmark cannot rot: every
// query is answered both ways, and the stub's background work ran for
// every name (the figures are for bench/dnsstub.md).
func TestSmoke(t *testing.T) {
	r, err := measure(200)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.direct) != 200 || len(r.stub) != 200 {
		t.Fatalf("%d and %d samples, want 200 each", len(r.direct), len(r.stub))
	}
	if r.binds == 0 || r.starts == 0 {
		t.Errorf("bindings %d, prestarts %d: the background work did not run", r.binds, r.starts)
	}
	t.Log("\n" + r.String())
}
