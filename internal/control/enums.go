package control

// The enums below are the machine-readable fields of the API: each is a
// string with a closed set of values, listed with its constants. Display
// text (such as "null (anonymous)") is the CLI's business and never appears
// on the wire. A reply never carries a value outside its enum's set; a
// client that meets one is talking to a newer daemon.

// Auth is how a peer authenticated (or, for a conn, must authenticate).
type Auth string

// The values of Auth.
const (
	AuthKey  Auth = "key"  // a public-key signature (RSA, ECDSA or Ed25519)
	AuthPSK  Auth = "psk"  // a pre-shared key
	AuthNull Auth = "null" // NULL authentication (RFC 7619): the peer is anonymous
	AuthCert Auth = "cert" // a signature with the key of an X.509 certificate that a CA vouches for
)

// Valid reports whether a is one of the documented values.
func (a Auth) Valid() bool { return a == AuthKey || a == AuthPSK || a == AuthNull || a == AuthCert }

// Mode is an SA pair's IPsec mode.
type Mode string

// The values of Mode.
const (
	ModeTunnel    Mode = "tunnel"    // ESP carries whole inner packets
	ModeTransport Mode = "transport" // ESP protects the payload between the two hosts
)

// Valid reports whether m is one of the documented values.
func (m Mode) Valid() bool { return m == ModeTunnel || m == ModeTransport }

// Group is a policy group (RFC 4322 §3.2): what to do with traffic to an
// address.
type Group string

// The values of Group.
const (
	GroupClear          Group = "clear"            // never encrypt
	GroupClearOrPrivate Group = "clear-or-private" // answer OE, never initiate it
	GroupPrivateOrClear Group = "private-or-clear" // try OE, fall back to clear
	GroupPrivate        Group = "private"          // encrypt or drop
	GroupBlock          Group = "block"            // drop
)

// Valid reports whether g is one of the documented values.
func (g Group) Valid() bool {
	switch g {
	case GroupClear, GroupClearOrPrivate, GroupPrivateOrClear, GroupPrivate, GroupBlock:
		return true
	}
	return false
}

// ShuntKind is what a shunt does with a flow's packets.
type ShuntKind string

// The values of ShuntKind.
const (
	ShuntPass ShuntKind = "pass" // send in clear
	ShuntDrop ShuntKind = "drop" // discard
	ShuntHold ShuntKind = "hold" // queue (or discard) while a negotiation runs
)

// Valid reports whether k is one of the documented values.
func (k ShuntKind) Valid() bool { return k == ShuntPass || k == ShuntDrop || k == ShuntHold }

// RecordType is the DNS record type a peer's key or gateway came from.
type RecordType string

// The values of RecordType.
const (
	RecordIPSECKEY RecordType = "IPSECKEY" // RFC 4025
	RecordTXT      RecordType = "TXT"      // X-IPsec-Server (FreeS/WAN)
	RecordKEY      RecordType = "KEY"      // RFC 2535 KEY, RSA only
)

// Valid reports whether r is one of the documented values.
func (r RecordType) Valid() bool { return r == RecordIPSECKEY || r == RecordTXT || r == RecordKEY }

// Answer is what a cached DNS answer held.
type Answer string

// The values of Answer.
const (
	AnswerRecords  Answer = "records"  // records of the type (usable or not)
	AnswerNoData   Answer = "nodata"   // the name exists, without records of the type
	AnswerNXDomain Answer = "nxdomain" // the name does not exist
)

// Valid reports whether a is one of the documented values.
func (a Answer) Valid() bool { return a == AnswerRecords || a == AnswerNoData || a == AnswerNXDomain }

// KeyAlgorithm is a public key's algorithm, as the IANA IPSECKEY registry
// names it.
type KeyAlgorithm string

// The values of KeyAlgorithm.
const (
	KeyNone  KeyAlgorithm = "none"  // no key: the record names a gateway only
	KeyDSA   KeyAlgorithm = "DSA"   // found in DNS but never used
	KeyRSA   KeyAlgorithm = "RSA"   // RSA (IPSECKEY 2, TXT, KEY)
	KeyECDSA KeyAlgorithm = "ECDSA" // ECDSA (IPSECKEY 3, RFC 8005)
	KeyEdDSA KeyAlgorithm = "EdDSA" // Ed25519 (IPSECKEY 4, RFC 9373)
)

// Valid reports whether k is one of the documented values.
func (k KeyAlgorithm) Valid() bool {
	switch k {
	case KeyNone, KeyDSA, KeyRSA, KeyECDSA, KeyEdDSA:
		return true
	}
	return false
}

// ConnState is where a configured conn is in its life.
type ConnState string

// The values of ConnState.
const (
	ConnAdded       ConnState = "added"       // known, neither routed nor up
	ConnRouted      ConnState = "routed"      // its remote subnets are trapped
	ConnNegotiating ConnState = "negotiating" // IKE is running for it
	ConnUp          ConnState = "up"          // it has a tunnel
	ConnDown        ConnState = "down"        // its tunnel went and it is not routed
	ConnGaveUp      ConnState = "gave-up"     // keying_tries ran out
)

// Valid reports whether s is one of the documented values.
func (s ConnState) Valid() bool {
	switch s {
	case ConnAdded, ConnRouted, ConnNegotiating, ConnUp, ConnDown, ConnGaveUp:
		return true
	}
	return false
}

// ConnAuto is what the daemon does with a conn when it is loaded
// (FreeS/WAN's auto=).
type ConnAuto string

// The values of ConnAuto.
const (
	AutoAdd   ConnAuto = "add"   // only load it
	AutoRoute ConnAuto = "route" // trap its remote subnets
	AutoStart ConnAuto = "start" // bring it up and keep it up
)

// Valid reports whether a is one of the documented values.
func (a ConnAuto) Valid() bool { return a == AutoAdd || a == AutoRoute || a == AutoStart }

// UDPEncap is when the daemon puts ESP in UDP (RFC 3948), as it resolved
// kernel.udp_encap for its data plane.
type UDPEncap string

// The values of UDPEncap.
const (
	// UDPEncapAlways: with every peer that supports NAT traversal, NAT or
	// not (the daemon sends a NAT_DETECTION_SOURCE_IP that cannot match).
	UDPEncapAlways UDPEncap = "always"
	// UDPEncapNAT: only when a NAT is found between the peers (RFC 7296).
	UDPEncapNAT UDPEncap = "nat"
)

// Valid reports whether u is one of the documented values.
func (u UDPEncap) Valid() bool { return u == UDPEncapAlways || u == UDPEncapNAT }

// ESPTransport is how an SA pair's ESP packets cross the network.
type ESPTransport string

// The values of ESPTransport.
const (
	ESPTransportRaw ESPTransport = "esp" // IP protocol 50
	ESPTransportUDP ESPTransport = "udp" // ESP-in-UDP (RFC 3948), on the NAT-T port
)

// Valid reports whether e is one of the documented values.
func (e ESPTransport) Valid() bool { return e == ESPTransportRaw || e == ESPTransportUDP }
