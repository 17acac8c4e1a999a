package main

// Display text for the control API's enums and numbers: what people read
// in the tables. The JSON output (--json) prints the control types as they
// are, never this text.

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/oemesh/oemesh/internal/control"
)

// authText is an authentication as the tables show it.
func authText(a control.Auth) string {
	if a == control.AuthNull {
		return "null (anonymous)"
	}
	return string(a)
}

// peerIDText is a tunnel's peer identity as the tables show it.
func peerIDText(t control.TunnelStatus) string {
	if t.Auth == control.AuthNull {
		return "(anonymous)"
	}
	return t.PeerID
}

// answerText is a cached DNS answer as the tables show it (the way dig
// names the negative answers).
func answerText(a control.Answer) string {
	switch a {
	case control.AnswerNoData:
		return "NODATA"
	case control.AnswerNXDomain:
		return "NXDOMAIN"
	}
	return string(a)
}

// gatewayText is a key's gateway as the tables show it.
func gatewayText(gw string) string {
	if gw == "" {
		return "none"
	}
	return gw
}

// explainGroupText is the group of an explanation as the tables show it:
// a conn is named beside its group.
func explainGroupText(ex control.Explanation) string {
	if ex.Conn != "" {
		return string(ex.Group) + " (conn " + ex.Conn + ")"
	}
	return string(ex.Group)
}

// seconds writes a count of seconds as a Go duration, e.g. "1m5s".
func seconds(n int64) string { return (time.Duration(n) * time.Second).String() }

// keyExchangesText is a tunnel's key exchanges as the tables show them:
// "-" when the daemon no longer knows the IKE SA.
func keyExchangesText(kes string) string {
	if kes == "" {
		return "-"
	}
	return kes
}

// ikeSAsText sums up the IKE SAs by key exchanges in one line of `oemesh
// status`, the most common first, e.g. "IKE SAs: 3, quantum-resistant: 2
// (x25519+mlkem768: 2, x25519: 1)".
func ikeSAsText(s control.IKESASummary) string {
	line := fmt.Sprintf("IKE SAs: %d, quantum-resistant: %d", s.Total, s.QuantumResistant)
	if len(s.ByKeyExchanges) == 0 {
		return line
	}
	names := slices.Collect(maps.Keys(s.ByKeyExchanges))
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(s.ByKeyExchanges[b], s.ByKeyExchanges[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s: %d", n, s.ByKeyExchanges[n])
	}
	return line + " (" + strings.Join(parts, ", ") + ")"
}

// quantumText says in the probe report whether an IKE SA's key exchanges
// resist a quantum computer.
func quantumText(pq bool) string {
	if pq {
		return "quantum-resistant"
	}
	return "classical"
}

// tunnelDetailText is what `oemesh traffic` shows below its table for an SA
// pair with a peer certificate or virtual IPs, "" for others.
func tunnelDetailText(t control.TunnelStatus) string {
	return certLeaseText(fmt.Sprintf("%s (SPI %s/%s)", t.Peer, t.SPIIn, t.SPIOut), t.PeerCert, t.VirtualIPs, t.Initiator)
}

// certLeaseText is the block under `oemesh traffic` and `oemesh peers`
// for what has a certificate or virtual IPs, headed by what; "" when it
// has neither. initiator says whose the virtual IPs are.
func certLeaseText(what string, c *control.PeerCertificate, vips []string, initiator bool) string {
	if c == nil && len(vips) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s:\n", what)
	if c != nil {
		fmt.Fprintf(&b, "  certificate:  %s\n", c.Subject)
		if sans := slices.Concat(c.DNSNames, c.IPAddresses); len(sans) > 0 {
			fmt.Fprintf(&b, "  alt names:    %s\n", strings.Join(sans, ", "))
		}
		fmt.Fprintf(&b, "  issuer:       %s\n", c.Issuer)
		fmt.Fprintf(&b, "  expires:      %s\n", c.NotAfter.UTC().Format("2006-01-02 15:04:05 UTC"))
		fmt.Fprintf(&b, "  fingerprint:  %s\n", c.Fingerprint)
	}
	if len(vips) > 0 {
		whose := "leased to the peer"
		if initiator {
			whose = "assigned to us"
		}
		fmt.Fprintf(&b, "  virtual IP:   %s (%s)\n", strings.Join(vips, ", "), whose)
	}
	return b.String()
}

// udpEncapText is `oemesh status`'s line on UDP encapsulation: what is in
// effect and why, then how the SA pairs' ESP travels.
func udpEncapText(u control.UDPEncapStatus) string {
	when := "only behind a NAT"
	if u.InEffect == control.UDPEncapAlways {
		when = "always"
	}
	return fmt.Sprintf("udp encapsulation: %s (kernel.udp_encap %s: %s); SA pairs: %d ESP-in-UDP, %d raw ESP",
		when, u.Configured, u.Why, u.SAs[control.ESPTransportUDP], u.SAs[control.ESPTransportRaw])
}
