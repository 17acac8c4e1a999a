package tunnel

import (
	"fmt"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel"
)

// SAPair translates a negotiated CHILD SA into the data plane's terms.
func SAPair(sa ike.ChildSA) (kernel.SAPair, error) {
	var aead kernel.AEAD
	switch sa.Encr.ID {
	case ike.EncrAESGCM16:
		aead = kernel.AESGCM16
	case ike.EncrChaCha20Poly1305:
		aead = kernel.ChaCha20Poly1305
	default:
		return kernel.SAPair{}, fmt.Errorf("oe: ESP transform %v is not an AEAD the data plane carries", sa.Encr)
	}
	if sa.Integ != ike.IntegNone {
		return kernel.SAPair{}, fmt.Errorf("oe: ESP integrity %v with an AEAD is not supported", sa.Integ)
	}
	p := kernel.SAPair{
		In:     kernel.SA{SPI: sa.SPIIn, Src: sa.Remote, Dst: sa.Local, AEAD: aead, Key: sa.EncrKeyIn, ESN: sa.ESN},
		Out:    kernel.SA{SPI: sa.SPIOut, Src: sa.Local, Dst: sa.Remote, AEAD: aead, Key: sa.EncrKeyOut, ESN: sa.ESN},
		Mode:   kernelMode(sa.Mode),
		Local:  Prefixes(sa.TSLocal),
		Remote: Prefixes(sa.TSRemote),
		Lifetime: kernel.Lifetime{
			SoftAdd: sa.SoftLifetime,
			HardAdd: sa.HardLifetime,
		},
		ReqID: sa.SPIIn,
		// The responder of a rekey keeps sending on the old pair until
		// the initiator, which installs last, is heard on the new one.
		DeferOutbound: sa.Replaces != 0 && !sa.Initiator,
	}
	if !p.Mode.Valid() {
		return kernel.SAPair{}, fmt.Errorf("oe: CHILD SA %08x has mode %v, want transport or tunnel", sa.SPIIn, sa.Mode)
	}
	if sa.Encap {
		p.Encap = &kernel.Encap{SrcPort: sa.EncapLocal, DstPort: sa.EncapRemote}
	}
	if len(p.Local) == 0 || len(p.Remote) == 0 {
		return kernel.SAPair{}, fmt.Errorf("oe: CHILD SA %08x with empty traffic selectors", sa.SPIIn)
	}
	return p, nil
}

// kernelMode translates ike's mode to the data plane's; ModeUnset stays
// unset, for SAPair to refuse.
func kernelMode(m ike.Mode) kernel.Mode {
	switch m {
	case ike.ModeTransport:
		return kernel.ModeTransport
	case ike.ModeTunnel:
		return kernel.ModeTunnel
	}
	return kernel.ModeUnset
}

// AuthName is how status output names the way a peer authenticated.
func AuthName(k ike.AuthKind) string {
	switch k {
	case ike.AuthKindPubkey:
		return "key"
	case ike.AuthKindNull:
		return "null (anonymous)"
	case ike.AuthKindPSK:
		return "psk"
	}
	return k.String()
}
