package oe

import (
	"errors"
	"testing"
	"time"
)

// TestAuthGate: DNS's decision and the engine's SPI allocation before
// IKE_AUTH take the gate in turn; whichever comes first decides.
func TestAuthGate(t *testing.T) {
	t0 := time.Unix(1000, 0)
	t.Run("withdrawn before IKE_AUTH", func(t *testing.T) {
		var g authGates
		gt := g.open(addrB, addrA, t0)
		if !g.withdraw(gt) {
			t.Fatal("withdraw of an open gate: want true (the attempt may be cancelled)")
		}
		if err := g.pass(addrB, addrA, t0); !errors.Is(err, errWithdrawn) {
			t.Fatalf("SPI for a withdrawn attempt: err %v, want errWithdrawn (no IKE_AUTH may go out)", err)
		}
		if d := g.deleteGrace(gt); d != 0 {
			t.Errorf("delete grace of an attempt that never sent IKE_AUTH: %v, want 0", d)
		}
		g.close(addrB, addrA, gt)
		if err := g.pass(addrB, addrA, t0); err != nil {
			t.Errorf("SPI after the gate closed: %v", err)
		}
	})
	t.Run("IKE_AUTH out first", func(t *testing.T) {
		var g authGates
		gt := g.open(addrB, addrA, t0)
		if err := g.pass(addrB, addrA, t0.Add(3*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		if g.withdraw(gt) {
			t.Fatal("withdraw after IKE_AUTH went out: want false (the attempt must run to its end)")
		}
		// A second allocation (a rekey, the peer's own initiation) neither
		// fails nor moves the round-trip estimate.
		if err := g.pass(addrB, addrA, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if d := g.deleteGrace(gt); d != 20*time.Millisecond {
			t.Errorf("delete grace with a 3 ms round trip: %v, want the 20 ms floor", d)
		}
	})
	t.Run("grace bounds", func(t *testing.T) {
		var g authGates
		gt := g.open(addrB, addrA, t0)
		g.pass(addrB, addrA, t0.Add(40*time.Millisecond))
		if d := g.deleteGrace(gt); d != 80*time.Millisecond {
			t.Errorf("grace %v, want two round trips (80 ms)", d)
		}
		gt.passed = t0.Add(2 * time.Second)
		if d := g.deleteGrace(gt); d != 500*time.Millisecond {
			t.Errorf("grace %v, want the 500 ms cap", d)
		}
	})
	t.Run("other peers untouched", func(t *testing.T) {
		var g authGates
		gt := g.open(addrB, addrA, t0)
		if err := g.pass(addrD, addrA, t0); err != nil {
			t.Fatal(err)
		}
		if !g.withdraw(gt) {
			t.Error("an SPI toward another peer passed the gate")
		}
		if g.open(addrB, addrA, t0) != nil {
			t.Error("a second gate for the same peer and address")
		}
	})
}
