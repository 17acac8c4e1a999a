package main

import (
	"encoding/hex"
	"fmt"

	"github.com/oemesh/oemesh/ike"
)

type suiteJSON struct {
	Encr  string `json:"encr"`
	Integ string `json:"integ,omitempty"`
	PRF   string `json:"prf,omitempty"`
	DH    string `json:"dh,omitempty"`
	ESN   *bool  `json:"esn,omitempty"`
}

type childJSON struct {
	SPIIn    string   `json:"spi_in"`
	SPIOut   string   `json:"spi_out"`
	Mode     string   `json:"mode"`
	TSLocal  []string `json:"ts_local"`
	TSRemote []string `json:"ts_remote"`
	Encr     string   `json:"encr"`
	Integ    string   `json:"integ,omitempty"`
	ESN      bool     `json:"esn"`
	PFS      string   `json:"pfs,omitempty"`
	Encap    bool     `json:"encap"`
	// VirtualIPs: the internal addresses of mode config, ours as
	// initiator, the peer's (leased from our pool) as responder.
	VirtualIPs []string `json:"virtual_ips,omitempty"`
}

type ikeSAJSON struct {
	SPIi      string    `json:"spi_i"`
	SPIr      string    `json:"spi_r"`
	Initiator bool      `json:"initiator"`
	Local     string    `json:"local"`
	Remote    string    `json:"remote"`
	PeerID    string    `json:"peer_id"`
	PeerAuth  string    `json:"peer_auth"`
	Suite     suiteJSON `json:"suite"`
	NATT      bool      `json:"natt"`
	BehindNAT bool      `json:"behind_nat"`

	// KeyExchanges: as probeReport.KeyExchanges, for this IKE SA.
	KeyExchanges string `json:"key_exchanges,omitempty"`
}

func ikeSuiteJSON(s ike.IKESuite) suiteJSON {
	j := suiteJSON{Encr: s.Encr.String(), PRF: s.PRF.String(), DH: s.DH.String()}
	if s.Integ != ike.IntegNone {
		j.Integ = s.Integ.String()
	}
	return j
}

func tsStrings(ts []ike.TrafficSelector) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		out = append(out, t.String())
	}
	return out
}

func childInfoJSON(c ike.ChildSAInfo) childJSON {
	j := childJSON{
		SPIIn: fmt.Sprintf("%08x", c.SPIIn), SPIOut: fmt.Sprintf("%08x", c.SPIOut),
		Mode: c.Mode.String(), TSLocal: tsStrings(c.TSLocal), TSRemote: tsStrings(c.TSRemote),
		Encr: c.Encr.String(), ESN: c.ESN, Encap: c.Encap, VirtualIPs: addrStrings(c.VirtualIPs),
	}
	if c.Integ != ike.IntegNone {
		j.Integ = c.Integ.String()
	}
	if c.PFS != ike.DHNone {
		j.PFS = c.PFS.String()
	}
	return j
}

func ikeInfoJSON(sa ike.SAInfo) ikeSAJSON {
	return ikeSAJSON{
		SPIi: hex.EncodeToString(sa.ID.SPIi[:]), SPIr: hex.EncodeToString(sa.ID.SPIr[:]),
		Initiator: sa.Initiator, Local: sa.Local.String(), Remote: sa.Remote.String(),
		PeerID: sa.PeerID.String(), PeerAuth: sa.PeerAuth.String(), Suite: ikeSuiteJSON(sa.Suite),
		NATT: sa.NATT, BehindNAT: sa.BehindNAT, KeyExchanges: sa.KeyExchanges.String(),
	}
}

// vendorIDString shows a vendor ID as text when it is printable (Libreswan's
// "Opportunistic IPsec"), as hex otherwise.
func vendorIDString(v []byte) string {
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return hex.EncodeToString(v)
		}
	}
	return string(v)
}
