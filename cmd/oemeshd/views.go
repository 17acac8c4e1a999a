package main

// The control API's views: the daemon's typed data (from oe, dnskey,
// policygroups, ike and kernel) turned into the wire types of
// internal/control. Every enum is mapped explicitly from the typed value,
// never from display text, so that renaming a String() changes no reply.

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/policygroups"
)

func authView(k ike.AuthKind) control.Auth {
	switch k {
	case ike.AuthKindPubkey:
		return control.AuthKey
	case ike.AuthKindPSK:
		return control.AuthPSK
	case ike.AuthKindNull:
		return control.AuthNull
	case ike.AuthKindCert:
		return control.AuthCert
	}
	return ""
}

func modeView(m ike.Mode) control.Mode {
	switch m {
	case ike.ModeTunnel:
		return control.ModeTunnel
	case ike.ModeTransport:
		return control.ModeTransport
	}
	return ""
}

func groupView(g policygroups.Group) control.Group {
	switch g {
	case policygroups.Clear:
		return control.GroupClear
	case policygroups.ClearOrPrivate:
		return control.GroupClearOrPrivate
	case policygroups.PrivateOrClear:
		return control.GroupPrivateOrClear
	case policygroups.Private:
		return control.GroupPrivate
	case policygroups.Block:
		return control.GroupBlock
	}
	return ""
}

func shuntKindView(k kernel.ShuntKind) control.ShuntKind {
	switch k {
	case kernel.ShuntPass:
		return control.ShuntPass
	case kernel.ShuntDrop:
		return control.ShuntDrop
	case kernel.ShuntHold:
		return control.ShuntHold
	}
	return ""
}

func recordTypeView(s dnskey.Source) control.RecordType {
	switch s {
	case dnskey.SourceIPSECKEY:
		return control.RecordIPSECKEY
	case dnskey.SourceTXT:
		return control.RecordTXT
	case dnskey.SourceKEY:
		return control.RecordKEY
	}
	return ""
}

func answerView(a dnskey.Answer) control.Answer {
	switch a {
	case dnskey.AnswerRecords:
		return control.AnswerRecords
	case dnskey.AnswerNoData:
		return control.AnswerNoData
	case dnskey.AnswerNXDomain:
		return control.AnswerNXDomain
	}
	return ""
}

func algorithmView(a dnskey.Algorithm) control.KeyAlgorithm {
	switch a {
	case dnskey.AlgorithmNone:
		return control.KeyNone
	case dnskey.AlgorithmDSA:
		return control.KeyDSA
	case dnskey.AlgorithmRSA:
		return control.KeyRSA
	case dnskey.AlgorithmECDSA:
		return control.KeyECDSA
	case dnskey.AlgorithmEdDSA:
		return control.KeyEdDSA
	}
	return ""
}

// tsView writes traffic selectors as "START-END".
func tsView(tss []ike.TrafficSelector) []string {
	var out []string
	for _, ts := range tss {
		out = append(out, fmt.Sprintf("%v-%v", ts.Start, ts.End))
	}
	return out
}

func tunnelView(t oe.TunnelStatus) control.TunnelStatus {
	v := control.TunnelStatus{
		Peer: t.Peer.String(), Auth: authView(t.Auth), Mode: modeView(t.Mode),
		Local: tsView(t.Local), Remote: tsView(t.Remote),
		SPIIn: fmt.Sprintf("%08x", t.SPIIn), SPIOut: fmt.Sprintf("%08x", t.SPIOut),
		InBytes: t.InBytes, OutBytes: t.OutBytes,
		AgeSeconds: control.Seconds(t.Age), IdleSeconds: control.Seconds(t.Idle),
		Initiator: t.Initiator, KeyExchanges: t.KeyExchanges.String(), QuantumResistant: t.KeyExchanges.QuantumResistant(),
		Transport: transportView(t),
	}
	if t.Auth != ike.AuthKindNull {
		v.PeerID = peerIDText(t.PeerID)
	}
	v.PeerCert = peerCertView(t.PeerCert)
	for _, a := range t.VirtualIPs {
		v.VirtualIPs = append(v.VirtualIPs, a.String())
	}
	return v
}

// peerCertView is the certificate a peer authenticated with; nil for none.
func peerCertView(c *ike.PeerCertificate) *control.PeerCertificate {
	if c == nil {
		return nil
	}
	sum := sha256.Sum256(c.Raw)
	v := &control.PeerCertificate{Subject: c.Subject, Issuer: c.Issuer, NotAfter: c.NotAfter.UTC(),
		DNSNames: slices.Clone(c.DNSNames), IPAddresses: []string{},
		Fingerprint: "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])}
	if v.DNSNames == nil {
		v.DNSNames = []string{}
	}
	for _, a := range c.IPAddresses {
		v.IPAddresses = append(v.IPAddresses, a.String())
	}
	return v
}

func tunnelsView(ts []oe.TunnelStatus) []control.TunnelStatus {
	out := make([]control.TunnelStatus, len(ts))
	for i, t := range ts {
		out[i] = tunnelView(t)
	}
	return out
}

// ikeSAsView sums up the IKE SAs that carry tunnels (installed CHILD SAs)
// by their key exchanges. An SA without one (being set up, rekeyed and
// waiting for its Delete, or with its CHILD SAs gone) is not counted.
func ikeSAsView(sas []ike.SAInfo) control.IKESASummary {
	var v control.IKESASummary
	for _, sa := range sas {
		if len(sa.Children) == 0 {
			continue
		}
		if v.ByKeyExchanges == nil {
			v.ByKeyExchanges = map[string]int{}
		}
		v.Total++
		v.ByKeyExchanges[sa.KeyExchanges.String()]++
		if sa.KeyExchanges.QuantumResistant() {
			v.QuantumResistant++
		}
	}
	return v
}

func shuntsView(ss []oe.ShuntStatus) []control.ShuntStatus {
	out := make([]control.ShuntStatus, len(ss))
	for i, s := range ss {
		out[i] = control.ShuntStatus{Src: s.Flow.Src.String(), Dst: s.Flow.Dst.String(), Kind: shuntKindView(s.Kind),
			Group: groupView(s.Group), Reason: s.Reason, Expires: s.Expires}
	}
	return out
}

func gatewayView(g dnskey.Gateway) string {
	switch g.Kind {
	case dnskey.GatewayAddr:
		return g.Addr.String()
	case dnskey.GatewayName:
		return "@" + g.Name
	}
	return ""
}

func peerKeyView(k dnskey.PeerKey) control.PeerKey {
	v := control.PeerKey{Name: k.Name, Source: recordTypeView(k.Source), Gateway: gatewayView(k.Gateway),
		Algorithm: algorithmView(k.Algorithm), Fingerprint: k.Fingerprint(), TTLSeconds: int64(k.TTL / time.Second),
		Secure: k.Secure, Record: k.Record}
	if k.Precedence != dnskey.NoPrecedence {
		p := k.Precedence
		v.Precedence = &p
	}
	return v
}

func dnsCacheView(es []dnskey.CacheEntry) []control.DNSCacheEntry {
	out := make([]control.DNSCacheEntry, len(es))
	for i, e := range es {
		v := control.DNSCacheEntry{Name: e.Name, Type: recordTypeView(e.Type), Answer: answerView(e.Answer),
			Secure: e.Secure, ExpiresInSeconds: int64(e.Expires / time.Second)}
		for _, k := range e.Keys {
			v.Keys = append(v.Keys, peerKeyView(k))
		}
		out[i] = v
	}
	return out
}

func explanationView(ex policygroups.Explanation) control.Explanation {
	return control.Explanation{Address: ex.Address, Group: groupView(ex.Group), Prefix: ex.Prefix, Source: ex.Source, Host: ex.Host, Exemption: ex.Exemption, PortExclusion: ex.PortExclusion}
}

// connView is the one place that reads the conns' status for the API.
// Auto is the conn's auto= word, which control.ConnAuto spells the same
// way (TestControlAPITypes checks it is valid).
func connView(c conn.Status) control.ConnStatus {
	return control.ConnStatus{
		Name: c.Name, State: connStateView(c.State), Routed: c.Routed, Auto: control.ConnAuto(c.Auto), Auth: authView(c.Auth),
		Local: c.Local, Remote: c.Remote, LocalSubnets: c.LocalSubnets, RemoteSubnets: c.RemoteSubnets,
		Tunnels: c.Tunnels, Peers: c.Peers, Tries: c.Tries, KeyingTries: c.KeyingTries,
		LastError: c.LastError, LastUpdown: c.LastUpdown, SinceSeconds: control.Seconds(c.Since), Source: c.Source,
	}
}

func connStateView(s conn.State) control.ConnState {
	switch s {
	case conn.StateAdded:
		return control.ConnAdded
	case conn.StateRouted:
		return control.ConnRouted
	case conn.StateNegotiating:
		return control.ConnNegotiating
	case conn.StateUp:
		return control.ConnUp
	case conn.StateDown:
		return control.ConnDown
	case conn.StateGaveUp:
		return control.ConnGaveUp
	}
	return control.ConnState(s.String())
}

func connsView(cs []conn.Status) []control.ConnStatus {
	out := make([]control.ConnStatus, len(cs))
	for i, c := range cs {
		out[i] = connView(c)
	}
	return out
}
