package ike

import (
	"net/netip"
	"time"
)

// childCore is a ChildSA without its keys: what the engine keeps of each
// CHILD SA. The keys go to the data plane once, on Install, and the
// engine never needs them again; four empty key slices in every CHILD SA
// were 96 octets per peer (issue 21: idle heap per peer). The fields
// are ChildSA's, under the same names, so that childSA reads as before;
// TestChildCoreFields checks that public copies every one.
type childCore struct {
	SPIIn, SPIOut              uint32
	Local, Remote              netip.Addr
	Encap                      bool
	EncapLocal, EncapRemote    uint16
	Mode                       Mode
	ESN                        bool
	Initiator                  bool
	PeerAuth                   AuthKind
	Integ                      IntegID
	Replaces                   uint32
	TSLocal, TSRemote          []TrafficSelector
	Encr                       EncrAlg
	SoftLifetime, HardLifetime time.Duration
	PeerID                     Identity
	IKESPIi, IKESPIr           SPI
	VirtualIPs                 []netip.Addr
}

// childKeys are a CHILD SA's keys by direction, for Install only.
type childKeys struct {
	encrIn, integIn, encrOut, integOut []byte
}

// public is the CHILD SA as the ChildInstaller sees it, with keys k (the
// zero childKeys for Delete, which identifies the SA without them).
func (c *childCore) public(k childKeys) ChildSA {
	return ChildSA{
		SPIIn: c.SPIIn, SPIOut: c.SPIOut, Local: c.Local, Remote: c.Remote,
		Encap: c.Encap, EncapLocal: c.EncapLocal, EncapRemote: c.EncapRemote, Mode: c.Mode,
		TSLocal: c.TSLocal, TSRemote: c.TSRemote, Encr: c.Encr, Integ: c.Integ, ESN: c.ESN,
		EncrKeyIn: k.encrIn, EncrKeyOut: k.encrOut, IntegKeyIn: k.integIn, IntegKeyOut: k.integOut,
		SoftLifetime: c.SoftLifetime, HardLifetime: c.HardLifetime, PeerID: c.PeerID, PeerAuth: c.PeerAuth,
		Initiator: c.Initiator, IKESPIi: c.IKESPIi, IKESPIr: c.IKESPIr, Replaces: c.Replaces, VirtualIPs: c.VirtualIPs,
	}
}
