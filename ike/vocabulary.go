package ike

import (
	"net/netip"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// The names below are defined by the wire format (ike/internal/wire) and
// re-exported because ike's API speaks them: identities and traffic
// selectors in ChildSA and InitiateOptions, proposals and transforms in
// Policy and ParseOffer, DH groups in Policy and the suites, the AUTH
// method in Trace. The rest of the codec is ike's own business.

// SPI is an IKE SA security parameter index.
type SPI = wire.SPI

// HeaderLen is the length of the fixed IKE header.
const HeaderLen = wire.HeaderLen

// Identity is an IKE identity: its type and its data as on the wire.
type Identity = wire.Identity

// IDType is the identification type of an ID payload.
type IDType = wire.IDType

// ID types (RFC 7296 §3.5, RFC 7619).
const (
	IDIPv4Addr   = wire.IDIPv4Addr
	IDFQDN       = wire.IDFQDN
	IDRFC822Addr = wire.IDRFC822Addr
	IDIPv6Addr   = wire.IDIPv6Addr
	IDDerASN1DN  = wire.IDDerASN1DN
	IDDerASN1GN  = wire.IDDerASN1GN
	IDKeyID      = wire.IDKeyID
	IDNull       = wire.IDNull
)

// AddrIdentity returns an ID_IPV4_ADDR or ID_IPV6_ADDR identity.
func AddrIdentity(a netip.Addr) Identity { return wire.AddrIdentity(a) }

// FQDNIdentity returns an ID_FQDN identity.
func FQDNIdentity(name string) Identity { return wire.FQDNIdentity(name) }

// NullIdentity returns the ID_NULL identity of RFC 7619.
func NullIdentity() Identity { return wire.NullIdentity() }

// TrafficSelector is one selector: an address range, a protocol and a
// port range. Selectors of types we do not implement keep their raw
// octets in Raw and match nothing.
type TrafficSelector = wire.TrafficSelector

// TSType is a traffic selector type.
type TSType = wire.TSType

// Traffic selector types (RFC 7296 §3.13.1).
const (
	TSIPv4AddrRange = wire.TSIPv4AddrRange
	TSIPv6AddrRange = wire.TSIPv6AddrRange
)

// HostSelector returns the selector for all traffic of one address.
func HostSelector(a netip.Addr) TrafficSelector { return wire.HostSelector(a) }

// ProtocolID names the protocol of a proposal, notify or delete.
type ProtocolID = wire.ProtocolID

// Protocol IDs (RFC 7296 §3.3.1).
const (
	ProtocolIKE = wire.ProtocolIKE
	ProtocolAH  = wire.ProtocolAH
	ProtocolESP = wire.ProtocolESP
)

// Proposal is one proposal of an SA payload.
type Proposal = wire.Proposal

// Transform is one transform of a proposal; ID is an EncrID, PRFID,
// IntegID, DHGroup or ESN according to Type.
type Transform = wire.Transform

// TransformType is the type of a transform in an SA proposal.
type TransformType = wire.TransformType

// Transform types (RFC 7296 §3.3.2).
const (
	TransformENCR  = wire.TransformENCR
	TransformPRF   = wire.TransformPRF
	TransformINTEG = wire.TransformINTEG
	TransformDH    = wire.TransformDH
	TransformESN   = wire.TransformESN
	// ADDKE1 to ADDKE7 (RFC 9370) are types 6 to 12; TransformType.AddKE
	// numbers them.
	TransformADDKE1 = wire.TransformADDKE1
	TransformADDKE7 = wire.TransformADDKE7
)

// DHGroup is a key exchange method (transform type 4). It is defined with
// the KE payload; ike holds the groups' arithmetic (dh.go) and the key
// encapsulation methods' (mlkem.go), behind one KeyExchange
// (keyexchange.go).
type DHGroup = wire.DHGroup

// Key exchange methods: the DH groups we implement (RFC 3526, RFC 5903,
// RFC 8031) and ML-KEM-768 and ML-KEM-1024 (FIPS 203). DHMLKEM512 is
// refused wherever it is configured: Go's crypto/mlkem does not have it.
const (
	DHNone       = wire.DHNone
	DHMODP2048   = wire.DHMODP2048
	DHMODP3072   = wire.DHMODP3072
	DHMODP4096   = wire.DHMODP4096
	DHECP256     = wire.DHECP256
	DHECP384     = wire.DHECP384
	DHECP521     = wire.DHECP521
	DHCurve25519 = wire.DHCurve25519
	DHMLKEM512   = wire.DHMLKEM512
	DHMLKEM768   = wire.DHMLKEM768
	DHMLKEM1024  = wire.DHMLKEM1024
)

// AuthMethod is the Auth Method of an AUTH payload.
type AuthMethod = wire.AuthMethod

// Authentication methods (RFC 7296 §3.8, RFC 7427, RFC 7619).
const (
	AuthRSASignature     = wire.AuthRSASignature
	AuthSharedKey        = wire.AuthSharedKey
	AuthDSSSignature     = wire.AuthDSSSignature
	AuthECDSASHA256P256  = wire.AuthECDSASHA256P256
	AuthECDSASHA384P384  = wire.AuthECDSASHA384P384
	AuthECDSASHA512P521  = wire.AuthECDSASHA512P521
	AuthNull             = wire.AuthNull
	AuthDigitalSignature = wire.AuthDigitalSignature
)
