package ike

import "fmt"

// ikeState is where an IKE SA is in its life. Only setState moves between
// states, and it logs every transition with the SPIs.
type ikeState uint8

const (
	// Initiator side.
	stInitSent ikeState = iota + 1 // IKE_SA_INIT request sent
	stAuthSent                     // IKE_AUTH request sent
	// Responder side.
	stHalfOpen // IKE_SA_INIT answered, waiting for IKE_AUTH
	// Both sides.
	stEstablished // authenticated; CREATE_CHILD_SA and INFORMATIONAL allowed
	stRekeyed     // replaced by a new IKE SA, waiting to be deleted
	stDeleting    // we sent a Delete for it
	stDead        // gone: removed from the engine, timers stopped
)

var ikeStateNames = map[ikeState]string{
	stInitSent: "INIT_SENT", stAuthSent: "AUTH_SENT", stHalfOpen: "HALF_OPEN",
	stEstablished: "ESTABLISHED", stRekeyed: "REKEYED", stDeleting: "DELETING", stDead: "DEAD",
}

func (s ikeState) String() string {
	if n, ok := ikeStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("state_%d", uint8(s))
}

// setState moves sa to s. Called with sa.mu held.
func (sa *ikeSA) setState(s ikeState) {
	if sa.state == s {
		return
	}
	sa.e.log.Debug("ike: IKE SA state", "spi_i", fmt.Sprintf("%x", sa.spii[:]), "spi_r", fmt.Sprintf("%x", sa.spir[:]),
		"from", sa.state.String(), "to", s.String(), "remote", sa.remote)
	sa.state = s
}

// childState is where a CHILD SA is in its life.
type childState uint8

const (
	childLarval    childState = iota + 1 // SPI allocated, negotiating
	childInstalled                       // in the data plane
	childRekeyed                         // replaced, waiting for its Delete
	childDeleting                        // we sent a Delete for it
	childDead                            // removed from the data plane
)

var childStateNames = map[childState]string{
	childLarval: "LARVAL", childInstalled: "INSTALLED", childRekeyed: "REKEYED",
	childDeleting: "DELETING", childDead: "DEAD",
}

func (s childState) String() string {
	if n, ok := childStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("child_state_%d", uint8(s))
}

// setChildState moves c to s. Called with sa.mu held.
func (sa *ikeSA) setChildState(c *childSA, s childState) {
	if c.state == s {
		return
	}
	sa.e.log.Debug("ike: CHILD SA state", "spi_in", fmt.Sprintf("%08x", c.SPIIn), "spi_out", fmt.Sprintf("%08x", c.SPIOut),
		"from", c.state.String(), "to", s.String(), "remote", sa.remote)
	c.state = s
}
