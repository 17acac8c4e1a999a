package ike

//go:generate go tool stringer -type=ikeState -linecomment

// ikeState is where an IKE SA is in its life. Only setState moves between
// states, and it logs every transition with the SPIs.
type ikeState uint8

// The line comments are the names String gives (go generate, stringer).
const (
	// Initiator side: stInitSent, the IKE_SA_INIT request is sent;
	// stAuthSent, the IKE_AUTH request is sent.
	stInitSent ikeState = iota + 1 // INIT_SENT
	stAuthSent                     // AUTH_SENT
	// Responder side: IKE_SA_INIT answered, waiting for IKE_AUTH.
	stHalfOpen // HALF_OPEN
	// Both sides. stEstablished: authenticated; CREATE_CHILD_SA and
	// INFORMATIONAL allowed. stRekeyed: replaced by a new IKE SA, waiting
	// to be deleted. stDeleting: we sent a Delete for it. stDead: gone,
	// removed from the engine, timers stopped.
	stEstablished // ESTABLISHED
	stRekeyed     // REKEYED
	stDeleting    // DELETING
	stDead        // DEAD
)

// setState moves sa to s. Called with sa.mu held.
func (sa *ikeSA) setState(s ikeState) {
	if sa.state == s {
		return
	}
	if sa.e.debugOn() {
		sa.e.log.Debug("ike: IKE SA state", "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir),
			"from", sa.state.String(), "to", s.String(), "remote", sa.remote)
	}
	sa.state = s
}

//go:generate go tool stringer -type=childState -linecomment

// childState is where a CHILD SA is in its life.
type childState uint8

// childLarval: SPI allocated, negotiating. childInstalled: in the data
// plane. childRekeyed: replaced, waiting for its Delete. childDeleting: we
// sent a Delete for it. childDead: removed from the data plane. The line
// comments are the names String gives.
const (
	childLarval    childState = iota + 1 // LARVAL
	childInstalled                       // INSTALLED
	childRekeyed                         // REKEYED
	childDeleting                        // DELETING
	childDead                            // DEAD
)

// setChildState moves c to s. Called with sa.mu held.
func (sa *ikeSA) setChildState(c *childSA, s childState) {
	if c.state == s {
		return
	}
	if sa.e.debugOn() {
		sa.e.log.Debug("ike: CHILD SA state", "spi_in", hexESPSPI(c.SPIIn), "spi_out", hexESPSPI(c.SPIOut),
			"from", c.state.String(), "to", s.String(), "remote", sa.remote)
	}
	c.state = s
}
