package wire

import (
	"fmt"

	"golang.org/x/crypto/cryptobyte"
)

// NotifyType is a Notify Message Type. Values below 16384 are errors.
type NotifyType uint16

// Notify types we send or understand (RFC 7296 §3.10.1, RFC 4555, 5685,
// 5723, 6023, 6311, 7383, 7427).
const (
	NotifyUnsupportedCriticalPayload NotifyType = 1
	NotifyInvalidIKESPI              NotifyType = 4
	NotifyInvalidMajorVersion        NotifyType = 5
	NotifyInvalidSyntax              NotifyType = 7
	NotifyInvalidMessageID           NotifyType = 9
	NotifyInvalidSPI                 NotifyType = 11
	NotifyNoProposalChosen           NotifyType = 14
	NotifyInvalidKEPayload           NotifyType = 17
	NotifyAuthenticationFailed       NotifyType = 24
	NotifySinglePairRequired         NotifyType = 34
	NotifyNoAdditionalSAs            NotifyType = 35
	NotifyInternalAddressFailure     NotifyType = 36
	NotifyFailedCPRequired           NotifyType = 37
	NotifyTSUnacceptable             NotifyType = 38
	NotifyInvalidSelectors           NotifyType = 39
	NotifyTemporaryFailure           NotifyType = 43
	NotifyChildSANotFound            NotifyType = 44
	// NotifyStateNotFound answers an IKE_FOLLOWUP_KE request whose
	// ADDITIONAL_KEY_EXCHANGE data names no exchange the responder has
	// under way (RFC 9370 §2.2.4).
	NotifyStateNotFound NotifyType = 47

	NotifyInitialContact              NotifyType = 16384
	NotifySetWindowSize               NotifyType = 16385
	NotifyAdditionalTSPossible        NotifyType = 16386
	NotifyIPCompSupported             NotifyType = 16387
	NotifyNATDetectionSourceIP        NotifyType = 16388
	NotifyNATDetectionDestinationIP   NotifyType = 16389
	NotifyCookie                      NotifyType = 16390
	NotifyUseTransportMode            NotifyType = 16391
	NotifyHTTPCertLookupSupported     NotifyType = 16392
	NotifyRekeySA                     NotifyType = 16393
	NotifyESPTFCPaddingNotSupported   NotifyType = 16394
	NotifyNonFirstFragmentsAlso       NotifyType = 16395
	NotifyMOBIKESupported             NotifyType = 16396
	NotifyAdditionalIP4Address        NotifyType = 16397
	NotifyAdditionalIP6Address        NotifyType = 16398
	NotifyNoAdditionalAddresses       NotifyType = 16399
	NotifyUpdateSAAddresses           NotifyType = 16400
	NotifyCookie2                     NotifyType = 16401
	NotifyNoNATsAllowed               NotifyType = 16402
	NotifyAuthLifetime                NotifyType = 16403
	NotifyMultipleAuthSupported       NotifyType = 16404
	NotifyAnotherAuthFollows          NotifyType = 16405
	NotifyRedirectSupported           NotifyType = 16406
	NotifyRedirect                    NotifyType = 16407
	NotifyRedirectedFrom              NotifyType = 16408
	NotifyEAPOnlyAuthentication       NotifyType = 16417
	NotifyChildlessIKEv2Supported     NotifyType = 16418
	NotifyIKEv2MessageIDSyncSupported NotifyType = 16420
	NotifyFragmentationSupported      NotifyType = 16430
	NotifySignatureHashAlgorithms     NotifyType = 16431
	// NotifyIntermediateExchangeSupported says, in IKE_SA_INIT, that the
	// sender can run IKE_INTERMEDIATE exchanges (RFC 9242 §3.1). It has
	// no SPI and no data.
	NotifyIntermediateExchangeSupported NotifyType = 16438
	// NotifyAdditionalKeyExchange links an IKE_FOLLOWUP_KE to the
	// CREATE_CHILD_SA (or the IKE_FOLLOWUP_KE) before it (RFC 9370
	// §2.2.4). It has no SPI; its data is opaque to the initiator, chosen
	// by the responder, and echoed by the initiator.
	NotifyAdditionalKeyExchange NotifyType = 16441
)

var notifyNames = map[NotifyType]string{
	NotifyUnsupportedCriticalPayload: "UNSUPPORTED_CRITICAL_PAYLOAD", NotifyInvalidIKESPI: "INVALID_IKE_SPI",
	NotifyInvalidMajorVersion: "INVALID_MAJOR_VERSION", NotifyInvalidSyntax: "INVALID_SYNTAX",
	NotifyInvalidMessageID: "INVALID_MESSAGE_ID", NotifyInvalidSPI: "INVALID_SPI",
	NotifyNoProposalChosen: "NO_PROPOSAL_CHOSEN", NotifyInvalidKEPayload: "INVALID_KE_PAYLOAD",
	NotifyAuthenticationFailed: "AUTHENTICATION_FAILED", NotifySinglePairRequired: "SINGLE_PAIR_REQUIRED",
	NotifyNoAdditionalSAs: "NO_ADDITIONAL_SAS", NotifyInternalAddressFailure: "INTERNAL_ADDRESS_FAILURE",
	NotifyFailedCPRequired: "FAILED_CP_REQUIRED", NotifyTSUnacceptable: "TS_UNACCEPTABLE",
	NotifyInvalidSelectors: "INVALID_SELECTORS", NotifyTemporaryFailure: "TEMPORARY_FAILURE",
	NotifyChildSANotFound: "CHILD_SA_NOT_FOUND", NotifyStateNotFound: "STATE_NOT_FOUND",
	NotifyInitialContact: "INITIAL_CONTACT", NotifySetWindowSize: "SET_WINDOW_SIZE",
	NotifyAdditionalTSPossible: "ADDITIONAL_TS_POSSIBLE", NotifyIPCompSupported: "IPCOMP_SUPPORTED",
	NotifyNATDetectionSourceIP: "NAT_DETECTION_SOURCE_IP", NotifyNATDetectionDestinationIP: "NAT_DETECTION_DESTINATION_IP",
	NotifyCookie: "COOKIE", NotifyUseTransportMode: "USE_TRANSPORT_MODE",
	NotifyHTTPCertLookupSupported: "HTTP_CERT_LOOKUP_SUPPORTED", NotifyRekeySA: "REKEY_SA",
	NotifyESPTFCPaddingNotSupported: "ESP_TFC_PADDING_NOT_SUPPORTED", NotifyNonFirstFragmentsAlso: "NON_FIRST_FRAGMENTS_ALSO",
	NotifyMOBIKESupported: "MOBIKE_SUPPORTED", NotifyAdditionalIP4Address: "ADDITIONAL_IP4_ADDRESS",
	NotifyAdditionalIP6Address: "ADDITIONAL_IP6_ADDRESS", NotifyNoAdditionalAddresses: "NO_ADDITIONAL_ADDRESSES",
	NotifyUpdateSAAddresses: "UPDATE_SA_ADDRESSES", NotifyCookie2: "COOKIE2", NotifyNoNATsAllowed: "NO_NATS_ALLOWED",
	NotifyAuthLifetime: "AUTH_LIFETIME", NotifyMultipleAuthSupported: "MULTIPLE_AUTH_SUPPORTED",
	NotifyAnotherAuthFollows: "ANOTHER_AUTH_FOLLOWS", NotifyRedirectSupported: "REDIRECT_SUPPORTED",
	NotifyRedirect: "REDIRECT", NotifyRedirectedFrom: "REDIRECTED_FROM",
	NotifyEAPOnlyAuthentication: "EAP_ONLY_AUTHENTICATION", NotifyChildlessIKEv2Supported: "CHILDLESS_IKEV2_SUPPORTED",
	NotifyIKEv2MessageIDSyncSupported: "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
	NotifyFragmentationSupported:      "IKEV2_FRAGMENTATION_SUPPORTED", NotifySignatureHashAlgorithms: "SIGNATURE_HASH_ALGORITHMS",
	NotifyIntermediateExchangeSupported: "INTERMEDIATE_EXCHANGE_SUPPORTED",
	NotifyAdditionalKeyExchange:         "ADDITIONAL_KEY_EXCHANGE",
}

func (t NotifyType) String() string {
	if n, ok := notifyNames[t]; ok {
		return n
	}
	return fmt.Sprintf("NOTIFY_%d", uint16(t))
}

// IsError reports whether t is an error type (RFC 7296 §3.10.1).
func (t NotifyType) IsError() bool { return t < 16384 }

// Notify is the Notify payload.
type Notify struct {
	Protocol   ProtocolID // 0 when the notify concerns the IKE SA
	SPI        []byte
	NotifyType NotifyType
	Data       []byte
}

func (*Notify) Type() PayloadType { return PayloadNotify }

func (p *Notify) marshalBody(b *cryptobyte.Builder) {
	b.AddUint8(uint8(p.Protocol))
	b.AddUint8(uint8(len(p.SPI)))
	b.AddUint16(uint16(p.NotifyType))
	b.AddBytes(p.SPI)
	b.AddBytes(p.Data)
}

func parseNotify(_ PayloadType, body cryptobyte.String) (Payload, error) {
	r := &reader{s: body}
	p := &Notify{Protocol: ProtocolID(r.u8("protocol ID"))}
	spiSize := int(r.u8("SPI size"))
	p.NotifyType = NotifyType(r.u16("notify type"))
	p.SPI = r.bytes(spiSize, "SPI")
	p.Data = r.rest()
	if r.err != nil {
		return nil, r.err
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("%v: %w", p.NotifyType, err)
	}
	return p, nil
}

// validate checks the data of notify types whose format we rely on.
func (p *Notify) validate() error {
	switch p.NotifyType {
	case NotifyNATDetectionSourceIP, NotifyNATDetectionDestinationIP:
		if len(p.Data) != 20 {
			return SyntaxErrorf("notification data: %d octets, want a 20-octet SHA-1 hash", len(p.Data))
		}
	case NotifyCookie:
		if len(p.Data) < 1 || len(p.Data) > 64 {
			return SyntaxErrorf("notification data: cookie of %d octets, want 1..64", len(p.Data))
		}
	case NotifyInvalidKEPayload:
		if len(p.Data) != 2 {
			return SyntaxErrorf("notification data: %d octets, want a 2-octet DH group", len(p.Data))
		}
	case NotifySignatureHashAlgorithms:
		if len(p.Data)%2 != 0 {
			return SyntaxErrorf("notification data: odd length %d for a list of 2-octet hash IDs", len(p.Data))
		}
	case NotifyRekeySA:
		if len(p.SPI) == 0 {
			return SyntaxErrorf("SPI size 0, REKEY_SA names the SA being rekeyed")
		}
	case NotifyAdditionalKeyExchange:
		if len(p.Data) == 0 {
			return SyntaxErrorf("ADDITIONAL_KEY_EXCHANGE without link data")
		}
	}
	return nil
}

// InvalidKENotify returns INVALID_KE_PAYLOAD naming the group we want.
func InvalidKENotify(g DHGroup) *Notify {
	return &Notify{NotifyType: NotifyInvalidKEPayload, Data: []byte{byte(g >> 8), byte(g)}}
}

// InvalidKEGroup returns the group an INVALID_KE_PAYLOAD asks for.
func (p *Notify) InvalidKEGroup() (DHGroup, bool) {
	if p.NotifyType != NotifyInvalidKEPayload || len(p.Data) != 2 {
		return 0, false
	}
	return DHGroup(p.Data[0])<<8 | DHGroup(p.Data[1]), true
}
