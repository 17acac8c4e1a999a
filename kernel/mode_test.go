package kernel

import "testing"

func TestModeZeroValueIsInvalid(t *testing.T) {
	var m Mode
	if m != ModeUnset || m.Valid() {
		t.Fatalf("zero Mode is %v, valid %v; want ModeUnset and invalid", m, m.Valid())
	}
	if !ModeTransport.Valid() || !ModeTunnel.Valid() || Mode(3).Valid() {
		t.Fatal("Valid: want only transport and tunnel")
	}
}
