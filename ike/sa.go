package ike

// ikeSA is the state of one IKE SA, initiator or responder side.
type ikeSA struct {
	e *Engine
}
