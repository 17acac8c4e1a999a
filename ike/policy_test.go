package ike

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

func tr(t TransformType, id uint16, keyLen uint16) Transform {
	return Transform{Type: t, ID: id, KeyLength: keyLen}
}

func TestDefaultPolicies(t *testing.T) {
	for _, p := range []Policy{DefaultIKEPolicy(), DefaultESPPolicy()} {
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	// Our own offer matches our own policy, picking our first choices.
	sel, err := DefaultIKEPolicy().Select(DefaultIKEPolicy().Proposals(nil, DHECP256))
	if err != nil || sel.IKESuite().String() != "AES_GCM_16_256/NONE/PRF_HMAC_SHA2_256/CURVE25519" || sel.Number != 1 {
		t.Errorf("IKE self-select: %+v %v", sel, err)
	}
	props := DefaultIKEPolicy().Proposals(nil, DHECP256)
	if len(props) != 2 || props[0].Transforms[len(props[0].Transforms)-7].ID != uint16(DHECP256) {
		t.Errorf("KE group not first among DH transforms: %v", props[0].Transforms)
	}
	for _, tt := range props[0].Transforms {
		if tt.Type == TransformINTEG {
			t.Errorf("AEAD proposal carries INTEG")
		}
	}
	esp := DefaultESPPolicy().Proposals([]byte{1, 2, 3, 4}, DHNone)
	sel, err = DefaultESPPolicy().Select(esp)
	if err != nil || sel.Encr != (EncrAlg{EncrAESGCM16, 256}) || sel.ESN != ESNOn || sel.DH != DHNone || string(sel.PeerSPI) != "\x01\x02\x03\x04" {
		t.Errorf("ESP self-select: %+v %v", sel, err)
	}
	got := sel.Proposal([]byte{9, 9, 9, 9})
	if got.Number != 1 || len(got.Transforms) != 2 || got.Transforms[1].Type != TransformESN || string(got.SPI) != "\x09\x09\x09\x09" {
		t.Errorf("response proposal %+v", got)
	}
	if err := (Policy{Protocol: ProtocolIKE, Encr: []EncrAlg{{EncrAESCBC, 100}}}).Validate(); err == nil {
		t.Errorf("AES-100 policy validated")
	}
}

// TestSelectPreference: our order wins over the peer's.
func TestSelectPreference(t *testing.T) {
	offer := []Proposal{
		{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{
			tr(TransformENCR, uint16(EncrAESCBC), 128), tr(TransformPRF, uint16(PRFHMACSHA2_512), 0),
			tr(TransformINTEG, uint16(IntegHMACSHA2_512_256), 0), tr(TransformINTEG, uint16(IntegHMACSHA2_256_128), 0),
			tr(TransformDH, uint16(DHMODP2048), 0)}},
		{Number: 2, Protocol: ProtocolIKE, Transforms: []Transform{
			tr(TransformENCR, uint16(EncrChaCha20Poly1305), 0), tr(TransformENCR, uint16(EncrAESGCM16), 128),
			tr(TransformPRF, uint16(PRFHMACSHA2_384), 0), tr(TransformPRF, uint16(PRFHMACSHA2_256), 0),
			tr(TransformDH, uint16(DHMODP2048), 0), tr(TransformDH, uint16(DHECP384), 0)}},
	}
	sel, err := DefaultIKEPolicy().Select(offer)
	if err != nil {
		t.Fatal(err)
	}
	if sel.Number != 2 || sel.Encr.ID != EncrChaCha20Poly1305 || sel.PRF != PRFHMACSHA2_256 || sel.DH != DHECP384 || sel.Integ != IntegNone {
		t.Errorf("got %+v", sel)
	}
	if p := sel.Proposal(nil); len(p.Transforms) != 3 {
		t.Errorf("response proposal %v", p.Transforms)
	}
	// With only proposal 1: CBC with our preferred INTEG.
	sel, err = DefaultIKEPolicy().Select(offer[:1])
	if err != nil || sel.Integ != IntegHMACSHA2_256_128 || sel.Encr != (EncrAlg{EncrAESCBC, 128}) {
		t.Errorf("got %+v %v", sel, err)
	}
	if p := sel.Proposal(nil); len(p.Transforms) != 4 {
		t.Errorf("response proposal %v", p.Transforms)
	}
}

func TestSelectReasons(t *testing.T) {
	ike := DefaultIKEPolicy()
	gcm := tr(TransformENCR, uint16(EncrAESGCM16), 256)
	prf := tr(TransformPRF, uint16(PRFHMACSHA2_256), 0)
	dh := tr(TransformDH, uint16(DHCurve25519), 0)
	for _, tc := range []struct {
		name   string
		policy Policy
		prop   Proposal
		want   string
	}{
		{"protocol", ike, Proposal{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}}, "proposal 1: protocol ESP, want IKE"},
		{"encr", ike, Proposal{Number: 3, Protocol: ProtocolIKE, Transforms: []Transform{tr(TransformENCR, 3, 0), prf, dh}},
			"proposal 3: no acceptable ENCR: offered [ENCR_3], accept [AES_GCM_16_256 CHACHA20_POLY1305 AES_GCM_16_128 AES_CBC_256 AES_CBC_128]"},
		{"key length", ike, Proposal{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{tr(TransformENCR, uint16(EncrAESGCM16), 192), prf, dh}},
			"proposal 1: no acceptable ENCR: offered [AES_GCM_16_192]"},
		{"aead+integ", ike, Proposal{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{gcm, prf, tr(TransformINTEG, uint16(IntegHMACSHA2_256_128), 0), dh}},
			"proposal 1: AES_GCM_16_256 offered with INTEG [AUTH_HMAC_SHA2_256_128]"},
		{"cbc no integ", ike, Proposal{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{tr(TransformENCR, uint16(EncrAESCBC), 256), prf, dh}},
			"proposal 1: AES_CBC_256 needs INTEG, offered [], accept"},
		{"prf", ike, Proposal{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{gcm, tr(TransformPRF, 2, 0), dh}},
			"proposal 1: no acceptable PRF: offered [PRF_HMAC_SHA1]"},
		{"dh", ike, Proposal{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{gcm, prf, tr(TransformDH, 2, 0)}},
			"proposal 1: no acceptable DH group: offered [DH_2]"},
		{"unknown attribute", ike, Proposal{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{
			{Type: TransformENCR, ID: uint16(EncrAESGCM16), KeyLength: 256, Attributes: []wire.TransformAttribute{{Type: 99, TV: true, Value: []byte{0, 1}}}}, prf, dh}},
			"proposal 1: no acceptable ENCR: offered []"},
		{"esp spi", DefaultESPPolicy(), Proposal{Number: 1, Protocol: ProtocolESP, SPI: []byte{1}}, "proposal 1: SPI size 1, want 4"},
		{"pfs required", Policy{Protocol: ProtocolESP, Encr: []EncrAlg{{EncrAESGCM16, 256}}, DH: []DHGroup{DHCurve25519}},
			Proposal{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{gcm}}, "proposal 1: no PFS offered, require one of [CURVE25519]"},
		{"pfs refused", DefaultESPPolicy(),
			Proposal{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{gcm, dh, tr(TransformESN, 0, 0)}}, "proposal 1: no acceptable PFS group: offered [CURVE25519], accept [NONE]"},
		{"esn", Policy{Protocol: ProtocolESP, Encr: []EncrAlg{{EncrAESGCM16, 256}}, ESN: []ESN{ESNOn}},
			Proposal{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{gcm, tr(TransformESN, 0, 0)}}, "proposal 1: no acceptable ESN: offered [NO_ESN], accept [ESN]"},
	} {
		_, err := tc.policy.Select([]Proposal{tc.prop})
		var npc *NoProposalChosenError
		if !errors.As(err, &npc) || len(npc.Reasons) != 1 || !strings.HasPrefix(npc.Reasons[0], tc.want) {
			t.Errorf("%s:\n got %v\nwant %s", tc.name, err, tc.want)
		}
	}
	if _, err := ike.Select(nil); err == nil || !strings.Contains(err.Error(), "no proposals offered") {
		t.Errorf("empty offer: %v", err)
	}
}

func TestSelectPFS(t *testing.T) {
	p := DefaultESPPolicy()
	p.DH = []DHGroup{DHCurve25519, DHNone}
	gcm := tr(TransformENCR, uint16(EncrAESGCM16), 128)
	withPFS := Proposal{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{gcm, tr(TransformDH, uint16(DHCurve25519), 0), tr(TransformESN, 1, 0)}}
	sel, err := p.Select([]Proposal{withPFS})
	if err != nil || sel.DH != DHCurve25519 || !sel.ChildSuite().ESN {
		t.Errorf("PFS: %+v %v", sel, err)
	}
	noPFS := Proposal{Number: 1, Protocol: ProtocolESP, SPI: []byte{1, 2, 3, 4}, Transforms: []Transform{gcm, tr(TransformESN, 1, 0)}}
	if sel, err := p.Select([]Proposal{noPFS}); err != nil || sel.DH != DHNone {
		t.Errorf("optional PFS without DH: %+v %v", sel, err)
	}
	if p2 := DefaultIKEPolicy().PreferDH(DHMODP2048); p2.DH[0] != DHMODP2048 || len(p2.DH) != len(DefaultIKEPolicy().DH) {
		t.Errorf("PreferDH: %v", p2.DH)
	}
	if p3 := DefaultIKEPolicy().PreferDH(DHGroup(2)); p3.DH[0] != DHCurve25519 {
		t.Errorf("PreferDH of an unaccepted group changed the policy")
	}
	def := DefaultIKEPolicy()
	if p4 := def.PreferDH(def.DH[0]); !slices.Equal(p4.DH, def.DH) {
		t.Errorf("PreferDH of the first group: %v, want %v", p4.DH, def.DH)
	}
	// Every IKE_SA_INIT answered asks; the usual answer costs nothing.
	if n := testing.AllocsPerRun(50, func() { def.PreferDH(def.DH[0]) }); n != 0 {
		t.Errorf("PreferDH of the first group: %v allocations, want 0", n)
	}
	if p5 := def.PreferDH(def.DH[len(def.DH)-1]); p5.DH[0] != def.DH[len(def.DH)-1] || !slices.Equal(p5.DH[1:], def.DH[:len(def.DH)-1]) {
		t.Errorf("PreferDH of the last group: %v (policy %v)", p5.DH, def.DH)
	}
}

// TestSelectUnknownTransformType: RFC 7296 §3.3.6. A proposal with a
// transform type we do not understand (a made-up type 200), or an ADDKE1
// with no method we accept (ML-KEM-768 without NONE, for a policy without
// additional key exchanges), is unacceptable as a whole; we pick the next
// proposal we fully accept even when we prefer the other's algorithms,
// and answer NO_PROPOSAL_CHOSEN when there is none.
func TestSelectUnknownTransformType(t *testing.T) {
	gcm256 := tr(TransformENCR, uint16(EncrAESGCM16), 256)
	gcm128 := tr(TransformENCR, uint16(EncrAESGCM16), 128)
	prf := tr(TransformPRF, uint16(PRFHMACSHA2_256), 0)
	x25519 := tr(TransformDH, uint16(DHCurve25519), 0)
	esn := tr(TransformESN, uint16(ESNOff), 0)
	addke1 := tr(6, 36, 0) // ADDKE1 = ML-KEM-768
	synthetic := tr(200, 1, 0)
	spi := []byte{1, 2, 3, 4}
	for _, tc := range []struct {
		name    string
		policy  Policy
		offer   []Proposal
		want    uint8  // the proposal chosen; 0: none
		because string // the reason given for the first proposal
	}{
		{"IKE ADDKE1 only", DefaultIKEPolicy(),
			[]Proposal{{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{gcm256, prf, x25519, addke1}}},
			0, "proposal 1: no acceptable ADDKE1: offered [ML_KEM_768], accept [NONE]"},
		{"IKE ADDKE1 then plain", DefaultIKEPolicy(),
			[]Proposal{
				{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{gcm256, prf, x25519, addke1}},
				{Number: 2, Protocol: ProtocolIKE, Transforms: []Transform{gcm128, prf, x25519}}},
			2, ""},
		{"IKE type 200 first", DefaultIKEPolicy(),
			[]Proposal{
				{Number: 1, Protocol: ProtocolIKE, Transforms: []Transform{synthetic, gcm256, prf, x25519}},
				{Number: 2, Protocol: ProtocolIKE, Transforms: []Transform{gcm128, prf, x25519}}},
			2, ""},
		{"ESP type 200 only", DefaultESPPolicy(),
			[]Proposal{{Number: 1, Protocol: ProtocolESP, SPI: spi, Transforms: []Transform{gcm256, esn, synthetic}}},
			0, "proposal 1: transform type 200 not understood"},
		{"ESP type 200 then plain", DefaultESPPolicy(),
			[]Proposal{
				{Number: 1, Protocol: ProtocolESP, SPI: spi, Transforms: []Transform{gcm256, esn, synthetic}},
				{Number: 2, Protocol: ProtocolESP, SPI: spi, Transforms: []Transform{gcm128, esn}}},
			2, ""},
	} {
		sel, err := tc.policy.Select(tc.offer)
		if tc.want == 0 {
			var npc *NoProposalChosenError
			if !errors.As(err, &npc) || len(npc.Reasons) != 1 || npc.Reasons[0] != tc.because {
				t.Errorf("%s: got %+v, %v; want NO_PROPOSAL_CHOSEN because %q", tc.name, sel, err, tc.because)
			}
			continue
		}
		if err != nil || sel.Number != tc.want {
			t.Errorf("%s: got %+v, %v; want proposal %d", tc.name, sel, err, tc.want)
			continue
		}
		for _, x := range sel.Proposal(spi).Transforms {
			if !understood(x.Type) || x.Type.AddKE() != 0 {
				t.Errorf("%s: the answer carries %v", tc.name, x.Type)
			}
		}
	}
}

// TestResponderSkipsAddKEProposal: a responder engine answers an
// IKE_SA_INIT whose only proposal carries ADDKE1 with NO_PROPOSAL_CHOSEN,
// and with two proposals picks the second, which it fully understands,
// although it prefers the first one's cipher.
func TestResponderSkipsAddKEProposal(t *testing.T) {
	_, addke, err := ParseOffer(ProtocolIKE, "aes256gcm16-prfsha256-x25519-ke1_mlkem768")
	if err != nil {
		t.Fatal(err)
	}
	n, a, b := newPair(t, nil, nil, nil)
	_, err = n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, IKEOffer: addke})
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyNoProposalChosen {
		t.Fatalf("ADDKE1 only: %v, want NO_PROPOSAL_CHOSEN", err)
	}
	pol, both, err := ParseOffer(ProtocolIKE, "aes256gcm16-prfsha256-x25519-ke1_mlkem768,aes128gcm16-prfsha256-x25519")
	if err != nil {
		t.Fatal(err)
	}
	n, a, b = newPair(t, nil, nil, nil)
	trace := &Trace{}
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, IKE: pol, IKEOffer: both, Trace: trace}); err != nil {
		t.Fatalf("ADDKE1, then a plain proposal: %v", err)
	}
	if got := trace.IKESuite.Encr; got != (EncrAlg{EncrAESGCM16, 128}) {
		t.Errorf("B chose %v, want AES_GCM_16_128 of proposal 2", got)
	}
}
