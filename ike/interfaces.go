package ike

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// This file holds the small interfaces through which the engine reaches
// the rest of oemesh: the network, credentials, the peer's keys, policy
// and the data plane. ike implements none of them; oe (and tests) plug
// them in. Time comes from internal/clock, as it does for every package.

// Sender puts IKE messages on the wire. pkt is the IKE message without the
// non-ESP marker: when local or remote is on the NAT-T port (4500) the
// transport adds the marker on send and strips it on receive. The engine
// chooses the ports (500, then 4500 after NAT detection or when the peer
// moved) and also asks for NAT keepalives through SendKeepalive when the
// transport implements KeepaliveSender. Send must not call back into the
// engine synchronously. The daemon's transport is internal/udpmux.Mux.
type Sender interface {
	Send(pkt []byte, local, remote netip.AddrPort) error
}

// KeepaliveSender is implemented by transports that can send the one-octet
// NAT keepalive (RFC 3948 §2.3) from the NAT-T port.
type KeepaliveSender interface {
	SendKeepalive(local, remote netip.AddrPort) error
}

//go:generate go tool stringer -type=AuthKind -linecomment

// AuthKind is the class of authentication one side uses: a public key
// signature, a pre-shared key, NULL (RFC 7619), or a signature with the
// key of an X.509 certificate sent in CERT payloads.
type AuthKind uint8

// Authentication classes.
const (
	AuthKindNone   AuthKind = iota // none
	AuthKindPubkey                 // pubkey
	AuthKindPSK                    // psk
	AuthKindNull                   // null
	AuthKindCert                   // cert
)

// authKindOf maps an AUTH method to its class. A signature is
// AuthKindPubkey here; peerAuthKind (cert.go) tells certificates apart
// by the CERT payloads beside it.
func authKindOf(m AuthMethod) AuthKind {
	switch m {
	case AuthSharedKey:
		return AuthKindPSK
	case AuthNull:
		return AuthKindNull
	case AuthRSASignature, AuthDigitalSignature, AuthECDSASHA256P256, AuthECDSASHA384P384, AuthECDSASHA512P521:
		return AuthKindPubkey
	}
	return AuthKindNone
}

// Credentials are what we authenticate with.
type Credentials struct {
	// ID is our identity for pubkey and PSK authentication. The zero
	// value means our address (ID_IPV4_ADDR/ID_IPV6_ADDR). NULL
	// authentication always sends ID_NULL.
	ID Identity
	// Signer is our private key (Ed25519, RSA or ECDSA); nil when we have
	// none, in which case we can only use PSK or NULL.
	Signer crypto.Signer
	// PSK returns the pre-shared key for a peer identity, or nil when we
	// share none with it. Nil means no PSKs at all.
	PSK func(peer Identity) []byte
	// Cert is our default certificate and its key, for AuthKindCert; nil
	// when we have none. Its ID, not ID above, is what we claim with it.
	// With it we also answer NULL peers that ask for a certificate
	// (certificate OE, responderAuthKind).
	Cert *CertCredential
	// Certs are further certificates, e.g. one per configured conn. An
	// initiation names its own (InitiateOptions.Cert); a responder
	// chooses among Cert and Certs by the IDr and the CERTREQ the peer
	// sent (certselect.go). NULL peers never get one of these.
	Certs []*CertCredential
	// IDFor, when set, chooses the identity a responder claims with
	// pubkey and PSK authentication (a configured conn's own local_id):
	// peer is the identity the peer proved, remote its address, idr the
	// IDr it named (zero: none). ok false: ID above.
	IDFor func(peer Identity, remote netip.Addr, idr Identity) (id Identity, ok bool)
}

// ErrNoKey is wrapped by KeyResolver implementations when the peer has no
// public key (as opposed to a lookup failure). The engine answers the
// first with AUTHENTICATION_FAILED and the second with TEMPORARY_FAILURE.
var ErrNoKey = errors.New("no public key for peer")

// KeyResolver finds the public keys a peer may sign with. oe puts DNS
// (IPSECKEY/RFC 3110 KEY records) behind it.
type KeyResolver interface {
	PeerKeys(ctx context.Context, peer Identity, remote netip.Addr) ([]crypto.PublicKey, error)
}

// KeyPrefetcher is an optional extension of KeyResolver. The engine tells
// it the address of each peer whose IKE_SA_INIT request it has answered,
// so that it may start looking up the keys that peer will sign with: the
// peer's IKE_AUTH arrives one or more round trips later, and PeerKeys
// then finds the answer on its way or cached instead of waiting for DNS.
// It must not block, and must bound its own work: any host can send
// IKE_SA_INIT requests (the engine's half-open limit and cookies bound
// how many).
type KeyPrefetcher interface {
	PrefetchPeerKeys(remote netip.Addr)
}

//go:generate go tool stringer -type=Mode -linecomment

// Mode is the CHILD SA encapsulation mode. Its zero value, ModeUnset, is
// invalid: an InitiateOptions or ChildDecision that forgets to choose a mode
// is refused rather than read as one. kernel.Mode has the same values.
type Mode uint8

// Modes.
const (
	ModeUnset     Mode = iota // unset
	ModeTransport             // transport
	ModeTunnel                // tunnel
)

// Valid reports whether m is transport or tunnel.
func (m Mode) Valid() bool { return m == ModeTransport || m == ModeTunnel }

// AuthRequest is what a responder knows about a peer before verifying its
// AUTH payload.
type AuthRequest struct {
	PeerID Identity
	Remote netip.Addr
	Local  netip.Addr
	Kind   AuthKind // the class of the peer's AUTH payload
}

// ChildRequest is a peer's request for a CHILD SA, after authentication.
type ChildRequest struct {
	PeerID Identity
	Auth   AuthKind // how the peer authenticated
	Remote netip.Addr
	Local  netip.Addr
	// TSi and TSr as proposed: TSi is the peer's side, TSr ours.
	TSi, TSr []TrafficSelector
	// Transport reports whether the peer sent USE_TRANSPORT_MODE.
	Transport bool
	// Rekey is set when the request replaces an existing CHILD SA.
	Rekey bool
	// Leased are the internal addresses we leased to the peer from
	// EngineConfig.AddressPool (modecfg); TSi is already narrowed to
	// them, so the policy may accept them as the peer's own.
	Leased []netip.Addr
}

// ChildDecision is the responder's answer to a ChildRequest.
type ChildDecision struct {
	// TSi and TSr are the (possibly narrowed) selectors to answer with;
	// each must be a subset of the proposed ones.
	TSi, TSr []TrafficSelector
	Mode     Mode
}

// PeerPolicy decides, as a responder, whom to talk to and what CHILD SAs to
// build. Errors refuse: an error wrapping *NotifyError sends that notify,
// any other error AUTHENTICATION_FAILED (from AcceptAuth) or
// TS_UNACCEPTABLE (from Child).
type PeerPolicy interface {
	// AcceptAuth says whether a peer may authenticate with this class
	// (for instance NULL only for opportunistic peers, PSK only for
	// configured ones).
	AcceptAuth(ctx context.Context, req AuthRequest) error
	// Child accepts, narrows or refuses a CHILD SA.
	Child(ctx context.Context, req ChildRequest) (ChildDecision, error)
}

// NullSignPolicy is an optional extension of PeerPolicy: whether to answer
// a NULL-authenticating initiator that names no responder (no IDr) and
// accepts signatures with our key's signature (asymmetric OE, RFC 7619
// §3). Without it the engine does so whenever it has a key.
type NullSignPolicy interface {
	SignForNull(req AuthRequest) bool
}

// ChildSA is everything a data plane needs to install one CHILD SA pair.
type ChildSA struct {
	// SPIIn is the SPI we allocated (the peer sends with it); SPIOut the
	// peer's.
	SPIIn, SPIOut uint32
	// Local and Remote are the outer addresses.
	Local, Remote netip.Addr
	// Encap is set when ESP is UDP encapsulated (NAT-T); the ports are
	// then the IKE SA's NAT-T ports.
	Encap                      bool
	EncapLocal, EncapRemote    uint16
	Mode                       Mode
	TSLocal, TSRemote          []TrafficSelector
	Encr                       EncrAlg
	Integ                      IntegID
	ESN                        bool
	EncrKeyIn, EncrKeyOut      []byte // AEAD keys end with their 4-octet salt
	IntegKeyIn, IntegKeyOut    []byte
	SoftLifetime, HardLifetime time.Duration
	PeerID                     Identity
	PeerAuth                   AuthKind
	// Initiator reports whether we initiated the exchange that created it.
	Initiator bool
	// IKESPIi and IKESPIr name the IKE SA it belongs to.
	IKESPIi, IKESPIr SPI
	// Replaces is the inbound SPI of the SA this one rekeys, 0 if none.
	Replaces uint32
	// VirtualIPs are the internal addresses the peer assigned to us by
	// mode config (we asked, InitiateOptions.RequestAddress), which
	// TSLocal carries instead of Local: the data plane translates our
	// own traffic to them (client address translation). Empty when we
	// leased addresses to the peer or none were assigned.
	VirtualIPs []netip.Addr
}

// ChildInstaller is the data plane as the engine sees it.
type ChildInstaller interface {
	// AllocSPI reserves an inbound SPI for traffic from src to dst.
	AllocSPI(ctx context.Context, src, dst netip.Addr) (uint32, error)
	// Install installs both directions of sa.
	Install(ctx context.Context, sa ChildSA) error
	// Delete removes both directions of sa (or releases its SPI when it
	// was never installed). sa carries no key material: the engine
	// forgets the keys once Install has them.
	Delete(ctx context.Context, sa ChildSA) error
}

// NotifyError is an error notify the peer sent (or that we sent, when
// wrapped in a Policy error).
type NotifyError struct {
	Type     wire.NotifyType
	Exchange wire.ExchangeType
	Data     []byte
}

func (e *NotifyError) Error() string {
	if e.Exchange == 0 {
		return fmt.Sprintf("ike: notify %v", e.Type)
	}
	return fmt.Sprintf("ike: peer answered %v with %v", e.Exchange, e.Type)
}

// Errors returned by Initiate and the engine.
var (
	// ErrTimeout: the peer did not answer before the give-up time.
	ErrTimeout = errors.New("ike: peer did not answer before the give-up time")
	// ErrClosed: the engine is closed.
	ErrClosed = errors.New("ike: engine closed")
	// ErrSADeleted: the IKE SA was deleted while the exchange was pending.
	ErrSADeleted = errors.New("ike: IKE SA deleted")
)
