package ike

import (
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// TestInitiatorTakesTunnelWhenTransportNotGranted: an initiator that asks
// for transport mode and gets an answer without USE_TRANSPORT_MODE has a
// tunnel-mode CHILD SA (RFC 7296 §1.3.1), installed as such with the
// host selectors. strongSwan answers so when its conn is tunnel mode (as
// kernel-libipsec needs), and Libreswan does with type=tunnel.
func TestInitiatorTakesTunnelWhenTransportNotGranted(t *testing.T) {
	_, a, _ := upPair(t, nil)
	sa := a.liveSA(t)
	sa.lock()
	defer sa.unlock()
	sel := &Selection{Number: 1, Protocol: ProtocolESP, Encr: EncrAlg{EncrAESGCM16, 256}, ESN: ESNOn}
	ours := []TrafficSelector{HostSelector(addrA)}
	theirs := []TrafficSelector{HostSelector(addrB)}
	m := &wire.Message{Header: wire.Header{Exchange: wire.CreateChildSA}, Payloads: []wire.Payload{
		&wire.SA{Proposals: []Proposal{sel.Proposal([]byte{1, 2, 3, 4})}},
		&wire.TSPayload{Selectors: ours}, &wire.TSPayload{Responder: true, Selectors: theirs}}}
	nonce := make([]byte, 32)
	c := &childSA{childCore: childCore{SPIIn: 99}, state: childLarval}
	a.inst.allocated[99] = true
	if _, err := sa.acceptChild(c, m, DefaultESPPolicy(), ours, theirs, ModeTransport, nil, nonce, nonce); err != nil {
		t.Fatalf("answer without USE_TRANSPORT_MODE refused: %v", err)
	}
	if c.Mode != ModeTunnel || c.state != childInstalled {
		t.Errorf("mode %v state %v, want tunnel and installed", c.Mode, c.state)
	}
	if len(c.TSLocal) != 1 || c.TSLocal[0].Start != addrA || c.TSLocal[0].End != addrA || len(c.TSRemote) != 1 || c.TSRemote[0].Start != addrB || c.TSRemote[0].End != addrB {
		t.Errorf("selectors %v === %v, want the host selectors %v === %v", c.TSLocal, c.TSRemote, ours, theirs)
	}
}
