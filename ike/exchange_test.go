package ike

import (
	"bytes"
	"crypto/rand"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
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
	req := &wire.Message{Header: wire.Header{SPIi: spii, Exchange: wire.IKESAInit, Flags: wire.FlagInitiator}, Payloads: []wire.Payload{
		&wire.SA{Proposals: DefaultIKEPolicy().Proposals(nil, iDH.Group())},
		&wire.KE{Group: iDH.Group(), Data: iDH.Public()},
		&wire.Nonce{Data: ni},
		&wire.Notify{NotifyType: wire.NotifyFragmentationSupported},
		signatureHashNotify(),
	}}
	for _, n := range natDetectionNotifies(spii, SPI{}, iAddr, rAddr) {
		req.Payloads = append(req.Payloads, n)
	}
	reqRaw, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}

	// Responder: parse, select (preferring the KE group), answer.
	rreq, err := wire.ParseMessage(reqRaw)
	if err != nil {
		t.Fatal(err)
	}
	ke := rreq.Get(wire.PayloadKE).(*wire.KE)
	sel, err := DefaultIKEPolicy().PreferDH(ke.Group).Select(rreq.Get(wire.PayloadSA).(*wire.SA).Proposals)
	if err != nil || sel.DH != ke.Group {
		t.Fatalf("select: %+v %v", sel, err)
	}
	if st := detectNAT(rreq, rAddr, iAddr); st != (NATStatus{Checked: true}) {
		t.Fatalf("responder NAT: %+v", st)
	}
	rDH, _ := GenerateDH(sel.DH, nil)
	resp := &wire.Message{Header: wire.Header{SPIi: spii, SPIr: spir, Exchange: wire.IKESAInit, Flags: wire.FlagResponse}, Payloads: []wire.Payload{
		&wire.SA{Proposals: []Proposal{sel.Proposal(nil)}},
		&wire.KE{Group: rDH.Group(), Data: rDH.Public()},
		&wire.Nonce{Data: nr},
		&wire.Notify{NotifyType: wire.NotifyFragmentationSupported},
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
	iresp, err := wire.ParseMessage(respRaw)
	if err != nil {
		t.Fatal(err)
	}
	isel, err := DefaultIKEPolicy().Select(iresp.Get(wire.PayloadSA).(*wire.SA).Proposals)
	if err != nil || isel.IKESuite() != suite {
		t.Fatalf("initiator: %+v %v", isel, err)
	}
	iGir, err := iDH.SharedSecret(iresp.Get(wire.PayloadKE).(*wire.KE).Data)
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
	authReq := &wire.Message{Header: wire.Header{SPIi: spii, SPIr: spir, Exchange: wire.IKEAuth, Flags: wire.FlagInitiator, MessageID: 1}, Payloads: []wire.Payload{
		&wire.IDPayload{Identity: idi},
		&wire.Auth{Method: AuthNull, Data: authI},
		&wire.SA{Proposals: DefaultESPPolicy().Proposals(espSPI, DHNone)},
		&wire.TSPayload{Selectors: []TrafficSelector{HostSelector(iAddr.Addr())}},
		&wire.TSPayload{Responder: true, Selectors: []TrafficSelector{HostSelector(rAddr.Addr())}},
	}}
	authReqRaw, err := authReq.MarshalEncrypted(iSend)
	if err != nil {
		t.Fatal(err)
	}

	// Responder: decrypt, verify the initiator's AUTH, answer in fragments.
	ra, err := wire.ParseMessage(authReqRaw)
	if err != nil {
		t.Fatal(err)
	}
	if err := ra.Decrypt(rRecv); err != nil {
		t.Fatal(err)
	}
	gotID := ra.Get(wire.PayloadIDi).(*wire.IDPayload).Identity
	gotAuth := ra.Get(wire.PayloadAUTH).(*wire.Auth)
	if gotAuth.Method != AuthNull {
		t.Fatalf("method %v", gotAuth.Method)
	}
	if err := VerifySharedKeyAuth(suite.PRF, rKeys.SKpi, SignedOctets(suite.PRF, reqRaw, nr, rKeys.SKpi, gotID), gotAuth.Data); err != nil {
		t.Fatal(err)
	}
	childSel, err := DefaultESPPolicy().Select(ra.Get(wire.PayloadSA).(*wire.SA).Proposals)
	if err != nil {
		t.Fatal(err)
	}
	idr := NullIdentity()
	authR := SharedKeyAuth(suite.PRF, rKeys.SKpr, SignedOctets(suite.PRF, respRaw, ni, rKeys.SKpr, idr))
	authResp := &wire.Message{Header: wire.Header{SPIi: spii, SPIr: spir, Exchange: wire.IKEAuth, Flags: wire.FlagResponse, MessageID: 1}, Payloads: []wire.Payload{
		&wire.IDPayload{Responder: true, Identity: idr},
		&wire.Auth{Method: AuthNull, Data: authR},
		&wire.SA{Proposals: []Proposal{childSel.Proposal([]byte{0xc0, 0, 0, 2})}},
		ra.Get(wire.PayloadTSi), ra.Get(wire.PayloadTSr),
		&wire.VendorID{Data: bytes.Repeat([]byte{0xee}, 600)}, // force fragmentation
	}}
	frags, err := authResp.MarshalFragments(rSend, 576-28)
	if err != nil || len(frags) < 2 {
		t.Fatalf("fragments: %d %v", len(frags), err)
	}

	// Initiator: reassemble, verify, derive CHILD SA keys.
	var r wire.Reassembler
	var done *wire.Message
	for _, f := range frags {
		fm, err := wire.ParseMessage(f)
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
	ra2 := done.Get(wire.PayloadAUTH).(*wire.Auth)
	idr2 := done.Get(wire.PayloadIDr).(*wire.IDPayload).Identity
	if err := VerifySharedKeyAuth(suite.PRF, iKeys.SKpr, SignedOctets(suite.PRF, respRaw, ni, iKeys.SKpr, idr2), ra2.Data); err != nil {
		t.Fatal(err)
	}
	csel, err := DefaultESPPolicy().Select(done.Get(wire.PayloadSA).(*wire.SA).Proposals)
	if err != nil || csel.ChildSuite() != childSel.ChildSuite() {
		t.Fatalf("child: %+v %v", csel, err)
	}
	ick, _ := csel.ChildSuite().DeriveChildKeys(suite.PRF, iKeys.SKd, nil, ni, nr)
	rck, _ := childSel.ChildSuite().DeriveChildKeys(suite.PRF, rKeys.SKd, nil, ni, nr)
	if !bytes.Equal(ick.EncrI, rck.EncrI) || !bytes.Equal(ick.EncrR, rck.EncrR) || len(ick.EncrI) != 36 {
		t.Errorf("CHILD SA keys differ or have the wrong length (%d)", len(ick.EncrI))
	}
}
