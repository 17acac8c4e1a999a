package ike

import (
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// Trace records what happened during Initiate, for the probe tool.
type Trace struct {
	Exchanges []ExchangeTrace
	// IKESuite and ESP are what the peer chose.
	IKESuite IKESuite
	ESP      *Selection
	// AddKE lists the additional key exchanges (RFC 9370) that ran, in
	// IKE_INTERMEDIATE exchanges, in ADDKE order.
	AddKE []DHGroup
	// Cookie: the peer asked for a cookie. InvalidKE lists the groups
	// the peer asked for with INVALID_KE_PAYLOAD.
	Cookie    bool
	InvalidKE []DHGroup
	// Fragments: we sent or received SKF fragments.
	FragmentsSent, FragmentsReceived int
	PeerSupportsFragments            bool
	// NAT: what detection said, and whether IKE moved to 4500.
	LocalBehindNAT, RemoteBehindNAT, NATT bool
	// PeerAuthMethod is the peer's AUTH method and scheme as described by
	// describeAuth; PeerAuthVerified whether it checked out.
	PeerID           Identity
	PeerAuthMethod   AuthMethod
	PeerAuthScheme   string
	PeerAuthVerified bool
	// PeerCert is the certificate the peer authenticated with, once
	// verified; PeerCertReq whether it sent a CERTREQ; CertsSent how
	// many CERT payloads we sent.
	PeerCert    *PeerCertificate
	PeerCertReq bool
	CertsSent   int
	// VendorIDs and Notifies the peer sent, over all exchanges.
	VendorIDs [][]byte
	Notifies  []wire.NotifyType
}

// ExchangeTrace is one request/response exchange as seen by the initiator.
type ExchangeTrace struct {
	Exchange    wire.ExchangeType
	MessageID   uint32
	Start       time.Time
	Duration    time.Duration
	Retransmits int
	SentBytes   int
	RecvBytes   int
	Fragments   int // fragments sent for the request
	Notifies    []wire.NotifyType
	Error       string
}
