package control

import "time"

// TunnelStatus is one installed SA pair: an element of the reply to
// GET /v1/traffic (`oemesh traffic`).
type TunnelStatus struct {
	// Peer is the peer's outer IP address (after NAT: the address its
	// packets come from).
	Peer string `json:"peer"`
	// PeerID is the IKE identity the peer proved: an IP address or
	// "@FQDN", as in the configuration; other identity types are written
	// TYPE:VALUE (e.g. ID_RFC822_ADDR:"a@example.org", ID_KEY_ID:hex). It
	// is "" when the peer is anonymous (Auth is "null").
	PeerID string `json:"peer_id"`
	// Auth is how the peer authenticated.
	Auth Auth `json:"auth"`
	// Mode is the pair's IPsec mode.
	Mode Mode `json:"mode"`
	// Local and Remote are the traffic selectors, each "START-END" (two IP
	// addresses, inclusive); ports and protocol are not shown.
	Local  []string `json:"local"`
	Remote []string `json:"remote"`
	// SPIIn and SPIOut are the inbound and outbound ESP SPIs, as 8
	// lower-case hex digits.
	SPIIn  string `json:"spi_in"`
	SPIOut string `json:"spi_out"`
	// InBytes and OutBytes count the ESP payload bytes through the pair.
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
	// AgeSeconds is the time since the pair was installed, in whole
	// seconds (rounded).
	AgeSeconds int64 `json:"age_seconds"`
	// IdleSeconds is the time since a packet last used the pair (or since
	// it was installed), in whole seconds (rounded).
	IdleSeconds int64 `json:"idle_seconds"`
	// Initiator is true when this daemon started the IKE exchange.
	Initiator bool `json:"initiator"`
	// Transport is how the pair's ESP crosses the network; "" when the
	// daemon no longer lists the pair's IKE SA (a rekeyed pair waiting
	// for its Delete).
	Transport ESPTransport `json:"esp_transport,omitempty"`
	// KeyExchanges are the key exchanges that keyed the pair's IKE SA (the
	// IKE SA that holds it now, after any IKE SA rekey): the IKE_SA_INIT
	// method, then each additional key exchange (RFC 9370) that ran, in
	// order, joined by '+', each written as its keyword in strongSwan's
	// proposal syntax (as `ike:` and `--ike` take them): "x25519" for a
	// classical IKE SA, "x25519+mlkem768" for the hybrid, "mlkem768" for
	// ML-KEM alone. "" when the daemon no longer knows the IKE SA (a
	// rekeyed pair waiting for its Delete).
	KeyExchanges string `json:"key_exchanges"`
	// QuantumResistant is true when KeyExchanges hold an ML-KEM method:
	// the keys do not fall to an adversary who records the traffic now
	// and breaks the (EC)DH exchanges with a quantum computer later.
	QuantumResistant bool `json:"quantum_resistant"`
	// PeerCert is the X.509 certificate the peer authenticated with (Auth
	// is "cert"); absent otherwise, and when the daemon no longer knows
	// the pair's IKE SA.
	PeerCert *PeerCertificate `json:"peer_cert,omitempty"`
	// VirtualIPs are the internal addresses of the pair's IKE SA's mode
	// config (CP payloads): when Initiator, the ones the peer assigned to
	// this host; otherwise the ones this host leased to the peer from its
	// address pool. Absent when none were.
	VirtualIPs []string `json:"virtual_ips,omitempty"`
}

// PeerCertificate is the end-entity certificate a peer authenticated with.
type PeerCertificate struct {
	// Subject and Issuer are distinguished names as RFC 4514 writes
	// them (e.g. "CN=b.example,O=Example,C=DE").
	Subject string `json:"subject"`
	Issuer  string `json:"issuer"`
	// DNSNames and IPAddresses are the subjectAltName's dNSName and
	// iPAddress entries.
	DNSNames    []string `json:"dns_names"`
	IPAddresses []string `json:"ip_addresses"`
	// NotAfter is when the certificate expires (RFC 3339).
	NotAfter time.Time `json:"not_after"`
	// Fingerprint is "SHA256:" and the unpadded base64 of the SHA-256 of
	// the certificate's DER, as PeerKey writes a key's.
	Fingerprint string `json:"fingerprint"`
}

// ShuntStatus is one shunt in force: an element of the reply to
// GET /v1/shunts (`oemesh shunts`), ordered by Expires.
type ShuntStatus struct {
	// Src and Dst are the flow's source and destination IP addresses.
	Src string `json:"src"`
	Dst string `json:"dst"`
	// Kind is what the shunt does with the flow's packets.
	Kind ShuntKind `json:"kind"`
	// Group is the policy group of Dst that chose the shunt.
	Group Group `json:"group"`
	// Reason says, in prose for people, why the shunt was set (e.g. the
	// negotiation's error). It is not meant to be parsed.
	Reason string `json:"reason"`
	// Expires is when the shunt ends (RFC 3339).
	Expires time.Time `json:"expires"`
}

// Seconds converts a duration to the whole seconds of the *Seconds fields,
// rounding to the nearest.
func Seconds(d time.Duration) int64 { return int64(d.Round(time.Second) / time.Second) }
