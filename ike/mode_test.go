package ike

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// modelessPolicy accepts every CHILD SA but forgets to choose a mode.
type modelessPolicy struct{ fakePolicy }

func (p *modelessPolicy) Child(ctx context.Context, req ChildRequest) (ChildDecision, error) {
	d, err := p.fakePolicy.Child(ctx, req)
	d.Mode = ModeUnset
	return d, err
}

func TestModeZeroValueIsInvalid(t *testing.T) {
	var m Mode
	if m != ModeUnset || m.Valid() {
		t.Fatalf("zero Mode is %v, valid %v; want ModeUnset and invalid", m, m.Valid())
	}
	if !ModeTransport.Valid() || !ModeTunnel.Valid() || Mode(3).Valid() {
		t.Fatal("Valid: want only transport and tunnel")
	}
}

// TestInitiateRefusesUnsetMode: an initiator that forgets the mode is
// refused before anything is sent, rather than getting tunnel mode.
func TestInitiateRefusesUnsetMode(t *testing.T) {
	n := newMemNet(t)
	a := n.addPeer(addrA, nil, nil)
	_, err := a.e.Initiate(t.Context(), InitiateOptions{Remote: netip.AddrPortFrom(addrB, 500), Local: addrA, Auth: AuthKindNull})
	if err == nil || !strings.Contains(err.Error(), "InitiateOptions.Mode") {
		t.Fatalf("Initiate without a mode: %v, want an error naming InitiateOptions.Mode", err)
	}
	if len(n.queue) != 0 {
		t.Errorf("%d datagrams sent for a refused initiation", len(n.queue))
	}
}

// TestResponderRefusesDecisionWithoutMode: a responder policy that accepts
// a CHILD SA without choosing its mode is a bug; the engine refuses the
// CHILD SA (TS_UNACCEPTABLE) instead of installing it in some mode.
func TestResponderRefusesDecisionWithoutMode(t *testing.T) {
	n := newMemNet(t)
	a := n.addPeer(addrA, nil, nil)
	b := n.addPeer(addrB, nil, func(c *EngineConfig) { c.Policy = &modelessPolicy{} })
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull})
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyTSUnacceptable {
		t.Fatalf("initiate against a modeless policy: %v, want TS_UNACCEPTABLE", err)
	}
	b.inst.mu.Lock()
	defer b.inst.mu.Unlock()
	if b.inst.installs != 0 || len(b.inst.installed) != 0 {
		t.Errorf("responder installed %d CHILD SAs with no mode", b.inst.installs)
	}
}
