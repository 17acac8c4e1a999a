package ike

import (
	"bytes"
	"crypto/rand"
	"net/netip"
	"testing"
)

// TestLoopbackExchange runs IKE_SA_INIT and IKE_AUTH between two
// in-memory peers using only this package's API, as the engine will:
// offer and select, KE, keys, NAT detection, NULL authentication, an SK
// response fragmented at the IPv4 minimum and reassembled.
func TestLoopbackExchange(t *testing.T) {
	iAddr, rAddr := netip.MustParseAddrPort("192.0.2.1:500"), netip.MustParseAddrPort("192.0.2.2:500")
	var spii, spir SPI
	rand.Read(spii[:])
	rand.Read(spir[:])
	ni, nr := make([]byte, 32), make([]byte, 32)
	rand.Read(ni)
	rand.Read(nr)

	// Initiator: IKE_SA_INIT request.
	iDH, err := GenerateDH(DHCurve25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := &Message{Header: Header{SPIi: spii, Exchange: IKESAInit, Flags: FlagInitiator}, Payloads: []Payload{
		&SA{Proposals: DefaultIKEPolicy().Proposals(nil, iDH.Group())},
		&KE{Group: iDH.Group(), Data: iDH.Public()},
		&Nonce{Data: ni},
		&Notify{NotifyType: NotifyFragmentationSupported},
		SignatureHashNotify(),
	}}
	for _, n := range NATDetectionNotifies(spii, SPI{}, iAddr, rAddr) {
		req.Payloads = append(req.Payloads, n)
	}
	reqRaw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	// Responder: parse, select (preferring the KE group), answer.
	rreq, err := ParseMessage(reqRaw)
	if err != nil {
		t.Fatal(err)
	}
	ke := rreq.Get(PayloadKE).(*KE)
	sel, err := DefaultIKEPolicy().PreferDH(ke.Group).Select(rreq.Get(PayloadSA).(*SA).Proposals)
	if err != nil || sel.DH != ke.Group {
		t.Fatalf("select: %+v %v", sel, err)
	}
	if st := DetectNAT(rreq, rAddr, iAddr); st != (NATStatus{Checked: true}) {
		t.Fatalf("responder NAT: %+v", st)
	}
	rDH, _ := GenerateDH(sel.DH, nil)
	resp := &Message{Header: Header{SPIi: spii, SPIr: spir, Exchange: IKESAInit, Flags: FlagResponse}, Payloads: []Payload{
		&SA{Proposals: []Proposal{sel.Proposal(nil)}},
		&KE{Group: rDH.Group(), Data: rDH.Public()},
		&Nonce{Data: nr},
		&Notify{NotifyType: NotifyFragmentationSupported},
	}}
	respRaw, err := resp.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	rGir, err := rDH.SharedSecret(ke.Data)
	if err != nil {
		t.Fatal(err)
	}
	suite := sel.IKESuite()
	rKeys, err := suite.DeriveIKEKeys(SKEYSEED(suite.PRF, ni, nr, rGir), ni, nr, spii, spir)
	if err != nil {
		t.Fatal(err)
	}

	// Initiator: the response's single proposal must be acceptable too.
	iresp, err := ParseMessage(respRaw)
	if err != nil {
		t.Fatal(err)
	}
	isel, err := DefaultIKEPolicy().Select(iresp.Get(PayloadSA).(*SA).Proposals)
	if err != nil || isel.IKESuite() != suite {
		t.Fatalf("initiator: %+v %v", isel, err)
	}
	iGir, err := iDH.SharedSecret(iresp.Get(PayloadKE).(*KE).Data)
	if err != nil {
		t.Fatal(err)
	}
	iKeys, _ := suite.DeriveIKEKeys(SKEYSEED(suite.PRF, ni, nr, iGir), ni, nr, spii, spir)
	iSend, iRecv, err := iKeys.Ciphers()
	if err != nil {
		t.Fatal(err)
	}
	rRecv, rSend, _ := rKeys.Ciphers()

	// IKE_AUTH request with NULL authentication.
	idi := NullIdentity()
	authI := SharedKeyAuth(suite.PRF, iKeys.SKpi, SignedOctets(suite.PRF, reqRaw, nr, iKeys.SKpi, idi))
	espSPI := []byte{0xc0, 0, 0, 1}
	authReq := &Message{Header: Header{SPIi: spii, SPIr: spir, Exchange: IKEAuth, Flags: FlagInitiator, MessageID: 1}, Payloads: []Payload{
		&IDPayload{Identity: idi},
		&Auth{Method: AuthNull, Data: authI},
		&SA{Proposals: DefaultESPPolicy().Proposals(espSPI, DHNone)},
		&TSPayload{Selectors: []TrafficSelector{HostSelector(iAddr.Addr())}},
		&TSPayload{Responder: true, Selectors: []TrafficSelector{HostSelector(rAddr.Addr())}},
	}}
	authReqRaw, err := authReq.MarshalEncrypted(iSend)
	if err != nil {
		t.Fatal(err)
	}

	// Responder: decrypt, verify the initiator's AUTH, answer in fragments.
	ra, err := ParseMessage(authReqRaw)
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.Decrypt(rRecv); err != nil {
		t.Fatal(err)
	}
	gotID := ra.Get(PayloadIDi).(*IDPayload).Identity
	gotAuth := ra.Get(PayloadAUTH).(*Auth)
	if gotAuth.Method != AuthNull {
		t.Fatalf("method %v", gotAuth.Method)
	}
	if err := VerifySharedKeyAuth(suite.PRF, rKeys.SKpi, SignedOctets(suite.PRF, reqRaw, nr, rKeys.SKpi, gotID), gotAuth.Data); err != nil {
		t.Fatal(err)
	}
	childSel, err := DefaultESPPolicy().Select(ra.Get(PayloadSA).(*SA).Proposals)
	if err != nil {
		t.Fatal(err)
	}
	idr := NullIdentity()
	authR := SharedKeyAuth(suite.PRF, rKeys.SKpr, SignedOctets(suite.PRF, respRaw, ni, rKeys.SKpr, idr))
	authResp := &Message{Header: Header{SPIi: spii, SPIr: spir, Exchange: IKEAuth, Flags: FlagResponse, MessageID: 1}, Payloads: []Payload{
		&IDPayload{Responder: true, Identity: idr},
		&Auth{Method: AuthNull, Data: authR},
		&SA{Proposals: []Proposal{childSel.Proposal([]byte{0xc0, 0, 0, 2})}},
		ra.Get(PayloadTSi), ra.Get(PayloadTSr),
		&VendorID{Data: bytes.Repeat([]byte{0xee}, 600)}, // force fragmentation
	}}
	frags, err := authResp.MarshalFragments(rSend, 576-28)
	if err != nil || len(frags) < 2 {
		t.Fatalf("fragments: %d %v", len(frags), err)
	}

	// Initiator: reassemble, verify, derive CHILD SA keys.
	var r Reassembler
	var done *Message
	for _, f := range frags {
		fm, err := ParseMessage(f)
		if err != nil {
			t.Fatal(err)
		}
		if done, err = r.Add(fm, iRecv); err != nil {
			t.Fatal(err)
		}
	}
	if done == nil {
		t.Fatal("not reassembled")
	}
	ra2 := done.Get(PayloadAUTH).(*Auth)
	idr2 := done.Get(PayloadIDr).(*IDPayload).Identity
	if err := VerifySharedKeyAuth(suite.PRF, iKeys.SKpr, SignedOctets(suite.PRF, respRaw, ni, iKeys.SKpr, idr2), ra2.Data); err != nil {
		t.Fatal(err)
	}
	csel, err := DefaultESPPolicy().Select(done.Get(PayloadSA).(*SA).Proposals)
	if err != nil || csel.ChildSuite() != childSel.ChildSuite() {
		t.Fatalf("child: %+v %v", csel, err)
	}
	ick, _ := csel.ChildSuite().DeriveChildKeys(suite.PRF, iKeys.SKd, nil, ni, nr)
	rck, _ := childSel.ChildSuite().DeriveChildKeys(suite.PRF, rKeys.SKd, nil, ni, nr)
	if !bytes.Equal(ick.EncrI, rck.EncrI) || !bytes.Equal(ick.EncrR, rck.EncrR) || len(ick.EncrI) != 36 {
		t.Errorf("CHILD SA keys differ or have the wrong length (%d)", len(ick.EncrI))
	}
}
