package ike

import "fmt"

//go:generate go tool stringer -type=PQMode -linecomment

// PQMode is how oemesh's default IKE policy uses the post-quantum hybrid
// key exchange: X25519 (or the group the peer asks for) in IKE_SA_INIT,
// then ML-KEM-768 as the first additional key exchange (RFC 9370 ADDKE1)
// in an IKE_INTERMEDIATE exchange (RFC 9242). The zero value is the
// default, PQPrefer. It shapes the default policy only: a policy written
// out in proposals (a conn's ike:, --ike) says itself what it offers.
type PQMode uint8

const (
	// PQPrefer offers and accepts ML-KEM-768 as an optional ADDKE1
	// (ke1_mlkem768-ke1_none) and then the classical proposals, so a
	// peer without RFC 9370 still gets a classical IKE SA.
	PQPrefer PQMode = iota // prefer
	// PQRequire offers and accepts only the hybrid (ke1_mlkem768 without
	// NONE): a peer that cannot run ML-KEM-768 is a negotiation failure,
	// as initiator and as responder.
	PQRequire // require
	// PQOff offers and accepts no additional key exchange: the classical
	// proposals alone (DefaultIKEPolicy).
	PQOff // off
)

// ParsePQMode reads a PQMode by its name: prefer, require or off.
func ParsePQMode(s string) (PQMode, error) {
	for _, m := range []PQMode{PQPrefer, PQRequire, PQOff} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("ike: post-quantum mode %q: must be prefer, require or off", s)
}

// IKEPolicy returns the default IKE policy in this mode: the algorithms of
// DefaultIKEPolicy, with ADDKE1 as the mode says. ML-KEM-768 is the
// method strongSwan 6 and Libreswan 5.4 pair with X25519
// (x25519-ke1_mlkem768).
func (m PQMode) IKEPolicy() Policy {
	p := DefaultIKEPolicy()
	switch m {
	case PQPrefer:
		p.AddKE[0] = []DHGroup{DHMLKEM768, DHNone}
		p.OfferClassical = true
	case PQRequire:
		p.AddKE[0] = []DHGroup{DHMLKEM768}
	}
	return p
}
