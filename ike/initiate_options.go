package ike

import "net/netip"

// InitiateOptions describes one IKE SA and its first CHILD SA to set up.
type InitiateOptions struct {
	// Remote is the peer (port 500 normally).
	Remote netip.AddrPort
	// Local is our address; invalid means "let the Sender choose" (NAT
	// detection then assumes we are behind a NAT and moves to 4500).
	Local netip.Addr
	// Auth is how we authenticate: AuthKindPubkey signs with
	// Credentials.Signer, AuthKindCert with Cert or else the default
	// certificate (Credentials.Cert),
	// AuthKindPSK uses Credentials.PSK(PeerID), AuthKindNull sends
	// ID_NULL and NULL auth.
	Auth AuthKind
	// PeerID is the identity the peer must prove; the zero value accepts
	// any identity the KeyResolver (or PeerKeys) vouches for (or the
	// peer's address for PSK). It is sent as IDr when set.
	PeerID Identity
	// LocalID is the identity we claim with pubkey and PSK authentication
	// on this initiation (a configured conn's own local_id); the zero
	// value means Credentials.ID.
	LocalID Identity
	// PeerKeys, when set, yields the only keys the peer's signature is
	// verified with: the engine's KeyResolver is not asked for this
	// initiation. It may wait for keys still being looked up when
	// IKE_SA_INIT goes out (see PeerKeysFunc).
	PeerKeys PeerKeysFunc
	// PeerAuth restricts how the peer may authenticate; AuthKindNone
	// means the same class as ours.
	PeerAuth AuthKind
	// Cert is the certificate this initiation authenticates with
	// (AuthKindCert), e.g. its conn's own; nil: the default,
	// Credentials.Cert as SetCertCredential last set it.
	Cert *CertCredential
	// PeerCertVerifier, when set, checks the peer's certificate chain for
	// this initiation instead of EngineConfig.CertVerifier, as PeerKeys
	// replaces the KeyResolver: certificate OE verifies each responder
	// against the name its own destination was looked up by, which no
	// engine-wide verifier knows. PeerCertAuthorities are then the CAs its
	// CERTREQ names (CAKeyHash; empty asks for any CA).
	PeerCertVerifier    CertVerifier
	PeerCertAuthorities [][]byte
	// NoCertRequest leaves CERTREQ out of our IKE_AUTH request although
	// we accept the responder's certificate, as Libreswan's certificate
	// OE client does: to see what a responder answers such a client
	// (oemesh probe --no-certreq).
	NoCertRequest bool
	// TSi and TSr are the proposed selectors; empty means host selectors
	// for Local and Remote, or for TSi, with RequestAddress, every address
	// of the families asked for.
	TSi, TSr []TrafficSelector
	Mode     Mode

	// RequestAddress asks the responder for internal addresses with
	// CP(CFG_REQUEST) (modecfg.go); the ones it assigns are in
	// ChildSAInfo.VirtualIPs and, narrowed by the responder, in TSLocal.
	RequestAddress AddressRequest
	// IKE and ESP override the engine's proposals when Protocol is set.
	IKE, ESP Policy
	// IKEOffer, when set, is the SA payload of IKE_SA_INIT as sent,
	// instead of one built from IKE; the peer's choice must still fit
	// IKE. It lets a probe offer what oemesh cannot use (see ParseOffer),
	// such as ML-KEM as an additional key exchange, to see how a peer
	// answers; a peer choosing such a method fails the initiation.
	IKEOffer []Proposal
	// InitialContact asks for INITIAL_CONTACT (RFC 7296 §2.4), which
	// the engine sends only when it holds no other IKE SA with the peer
	// at the time of IKE_AUTH: the notify tells the peer to delete every
	// other SA between us (contact.go).
	InitialContact bool
	// Trace, when not nil, is filled in as the exchanges happen, also
	// when Initiate fails.
	Trace *Trace
}
