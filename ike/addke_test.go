package ike

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// TestSelectAddKE: RFC 9370's ADDKE transforms in the peer's proposal.
// Without additional exchanges of our own we pick NONE where it is
// offered and refuse the proposal where it is not; with a policy, our
// most preferred offered method; the answer carries exactly one transform
// of each type the proposal carried.
func TestSelectAddKE(t *testing.T) {
	gcm256 := tr(TransformENCR, uint16(EncrAESGCM16), 256)
	gcm128 := tr(TransformENCR, uint16(EncrAESGCM16), 128)
	prf := tr(TransformPRF, uint16(PRFHMACSHA2_256), 0)
	x25519 := tr(TransformDH, uint16(DHCurve25519), 0)
	ke := func(n int, m DHGroup) Transform { return Transform{Type: addKEType(n), ID: uint16(m)} }
	ike := func(n uint8, ts ...Transform) Proposal {
		return Proposal{Number: n, Protocol: ProtocolIKE, Transforms: ts}
	}
	withAddKE := func(p Policy, n int, ms ...DHGroup) Policy {
		p.AddKE[n-1] = ms
		return p
	}
	def := DefaultIKEPolicy()
	spi := []byte{1, 2, 3, 4}
	for _, tc := range []struct {
		name    string
		policy  Policy
		offer   []Proposal
		want    uint8       // the proposal chosen; 0: none
		answer  []Transform // the answer's transforms, or the reason for proposal 1
		because string
	}{
		{name: "optional, no policy: NONE", policy: def,
			offer:  []Proposal{ike(1, gcm256, prf, x25519, ke(1, DHMLKEM768), ke(1, DHNone))},
			want:   1,
			answer: []Transform{gcm256, prf, x25519, ke(1, DHNone)}},
		{name: "NONE first, no policy", policy: def,
			offer:  []Proposal{ike(1, gcm256, prf, x25519, ke(1, DHNone), ke(1, DHMLKEM1024))},
			want:   1,
			answer: []Transform{gcm256, prf, x25519, ke(1, DHNone)}},
		{name: "two optional types", policy: def,
			offer:  []Proposal{ike(1, gcm256, prf, x25519, ke(1, DHMLKEM768), ke(1, DHNone), ke(3, DHNone), ke(3, DHECP256))},
			want:   1,
			answer: []Transform{gcm256, prf, x25519, ke(1, DHNone), ke(3, DHNone)}},
		{name: "required, no policy", policy: def,
			offer:   []Proposal{ike(1, gcm256, prf, x25519, ke(1, DHMLKEM768))},
			because: "proposal 1: no acceptable ADDKE1: offered [ML_KEM_768], accept [NONE]"},
		{name: "one type optional, another required", policy: def,
			offer:   []Proposal{ike(1, gcm256, prf, x25519, ke(1, DHNone), ke(2, DHMLKEM1024))},
			because: "proposal 1: no acceptable ADDKE2: offered [ML_KEM_1024], accept [NONE]"},
		{name: "our method", policy: withAddKE(def, 1, DHMLKEM768, DHNone),
			offer:  []Proposal{ike(1, gcm256, prf, x25519, ke(1, DHNone), ke(1, DHMLKEM1024), ke(1, DHMLKEM768))},
			want:   1,
			answer: []Transform{gcm256, prf, x25519, ke(1, DHMLKEM768)}},
		{name: "we prefer NONE", policy: withAddKE(def, 1, DHNone, DHMLKEM768),
			offer:  []Proposal{ike(1, gcm256, prf, x25519, ke(1, DHMLKEM768), ke(1, DHNone))},
			want:   1,
			answer: []Transform{gcm256, prf, x25519, ke(1, DHNone)}},
		{name: "no method in common", policy: withAddKE(def, 1, DHMLKEM1024),
			offer:   []Proposal{ike(1, gcm256, prf, x25519, ke(1, DHMLKEM768))},
			because: "proposal 1: no acceptable ADDKE1: offered [ML_KEM_768], accept [ML_KEM_1024]"},
		{name: "required by us, not offered", policy: withAddKE(def, 1, DHMLKEM768),
			offer:   []Proposal{ike(1, gcm256, prf, x25519)},
			because: "proposal 1: no ADDKE1 offered, require one of [ML_KEM_768]"},
		{name: "optional for us, not offered", policy: withAddKE(def, 1, DHMLKEM768, DHNone),
			offer:  []Proposal{ike(1, gcm256, prf, x25519)},
			want:   1,
			answer: []Transform{gcm256, prf, x25519}},
		{name: "the IKE_SA_INIT method is not run twice", policy: withAddKE(def, 1, DHCurve25519, DHNone),
			offer:  []Proposal{ike(1, gcm256, prf, x25519, ke(1, DHCurve25519), ke(1, DHNone))},
			want:   1,
			answer: []Transform{gcm256, prf, x25519, ke(1, DHNone)}},
		{name: "an ADDKE with an attribute is unusable", policy: def,
			offer:   []Proposal{ike(1, gcm256, prf, x25519, Transform{Type: TransformADDKE1, Attributes: []wire.TransformAttribute{{Type: 1, TV: true, Value: []byte{0, 1}}}})},
			because: "proposal 1: no acceptable ADDKE1: offered [], accept [NONE]"},
		{name: "type 13 still unknown", policy: def,
			offer:   []Proposal{ike(1, gcm256, prf, x25519, ke(1, DHNone), tr(13, 0, 0))},
			because: "proposal 1: transform type 13 not understood"},
		{name: "required first, optional second", policy: def,
			offer: []Proposal{
				ike(1, gcm256, prf, x25519, ke(1, DHMLKEM768)),
				ike(2, gcm128, prf, x25519, ke(1, DHMLKEM768), ke(1, DHNone))},
			want:   2,
			answer: []Transform{gcm128, prf, x25519, ke(1, DHNone)}},
		{name: "ESP, optional", policy: DefaultESPPolicy(),
			offer: []Proposal{{Number: 1, Protocol: ProtocolESP, SPI: spi,
				Transforms: []Transform{gcm256, tr(TransformESN, uint16(ESNOff), 0), ke(1, DHMLKEM768), ke(1, DHNone)}}},
			want:   1,
			answer: []Transform{gcm256, tr(TransformESN, uint16(ESNOff), 0), ke(1, DHNone)}},
	} {
		sel, err := tc.policy.Select(tc.offer)
		if tc.want == 0 {
			var npc *NoProposalChosenError
			if !errors.As(err, &npc) || len(npc.Reasons) == 0 || npc.Reasons[0] != tc.because {
				t.Errorf("%s: got %+v, %v; want NO_PROPOSAL_CHOSEN because %q", tc.name, sel, err, tc.because)
			}
			continue
		}
		if err != nil || sel.Number != tc.want {
			t.Errorf("%s: got %+v, %v; want proposal %d", tc.name, sel, err, tc.want)
			continue
		}
		if got := sel.Proposal(spi).Transforms; !reflect.DeepEqual(got, tc.answer) {
			t.Errorf("%s: answer %v, want %v", tc.name, got, tc.answer)
		}
	}
}

// TestPolicyAddKE: a policy's ADDKE methods appear in its offer, survive
// the wire, and select themselves; Validate accepts implemented methods
// for IKE (run in IKE_INTERMEDIATE) and for ESP (run in IKE_FOLLOWUP_KE),
// and refuses ML-KEM-512 in both.
func TestPolicyAddKE(t *testing.T) {
	p := DefaultIKEPolicy()
	p.AddKE[0] = []DHGroup{DHNone}
	p.AddKE[2] = []DHGroup{DHNone}
	if err := p.Validate(); err != nil {
		t.Fatalf("NONE only: %v", err)
	}
	props := p.Proposals(nil, DHCurve25519)
	b, err := (&wire.Message{Header: wire.Header{Exchange: wire.IKESAInit}, Payloads: []wire.Payload{&wire.SA{Proposals: props}}}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	m, err := wire.ParseMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	got := m.Get(wire.PayloadSA).(*wire.SA).Proposals
	if !reflect.DeepEqual(got, props) {
		t.Fatalf("offer changed on the wire:\n%+v\n%+v", props, got)
	}
	for _, prop := range got {
		n := len(prop.Transforms)
		if tail := prop.Transforms[n-2:]; !reflect.DeepEqual(tail, []Transform{{Type: TransformADDKE1}, {Type: addKEType(3)}}) {
			t.Errorf("proposal %d ends with %v, want ADDKE1 NONE, ADDKE3 NONE", prop.Number, tail)
		}
	}
	sel, err := p.Select(got)
	if err != nil {
		t.Fatal(err)
	}
	if ans := sel.Proposal(nil).Transforms; len(ans) != 5 || ans[3].Type != TransformADDKE1 || ans[4].Type != addKEType(3) {
		t.Errorf("answer to our own offer: %v", ans)
	}

	p.AddKE[0] = []DHGroup{DHMLKEM512}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "ADDKE1 ML_KEM_512: key exchange method not implemented") {
		t.Errorf("Validate with ML-KEM-512 in ADDKE1: %v", err)
	}
	p.AddKE[0] = []DHGroup{DHMLKEM768, DHNone}
	if err := p.Validate(); err != nil {
		t.Errorf("Validate with ML-KEM-768 in ADDKE1: %v", err)
	}
	esp := DefaultESPPolicy()
	esp.AddKE[1] = []DHGroup{DHNone, DHMLKEM1024}
	if err := esp.Validate(); err != nil {
		t.Errorf("Validate with ML-KEM-1024 in an ESP ADDKE2: %v", err)
	}
	esp.AddKE[0] = []DHGroup{DHMLKEM512}
	if err := esp.Validate(); err == nil || !strings.Contains(err.Error(), "ESP policy: ADDKE1 ML_KEM_512: key exchange method not implemented") {
		t.Errorf("Validate with ML-KEM-512 in an ESP ADDKE1: %v", err)
	}
	// A responder without additional exchanges picks NONE: classical.
	n, pa, pb := newPair(t, nil, nil, nil)
	trace := &Trace{}
	if _, err := n.initiate(pa, pb, InitiateOptions{Auth: AuthKindPubkey, IKE: p, Trace: trace}); err != nil || len(trace.AddKE) != 0 {
		t.Errorf("Initiate with ML-KEM-768 or NONE in ADDKE1 to a classical responder: %v, additional exchanges %v", err, trace.AddKE)
	}
}

// TestCheckAddKEChoice: the initiator's check of the responder's ADDKE
// choice against what it offered.
func TestCheckAddKEChoice(t *testing.T) {
	base := []Transform{tr(TransformENCR, uint16(EncrAESGCM16), 256), tr(TransformPRF, uint16(PRFHMACSHA2_384), 0), tr(TransformDH, uint16(DHCurve25519), 0)}
	ke := func(n int, m DHGroup) Transform { return Transform{Type: addKEType(n), ID: uint16(m)} }
	prop := func(n uint8, extra ...Transform) Proposal {
		return Proposal{Number: n, Protocol: ProtocolIKE, Transforms: append(slices.Clone(base), extra...)}
	}
	optional := []Proposal{prop(1, ke(1, DHMLKEM768), ke(1, DHNone)), prop(2)}
	required := []Proposal{prop(1, ke(1, DHMLKEM768))}
	for _, tc := range []struct {
		name   string
		offer  []Proposal
		chosen Proposal
		want   string // "" for no error
	}{
		{"NONE", optional, prop(1, ke(1, DHNone)), ""},
		{"NONE left out (strongSwan 6.1)", optional, prop(1), ""},
		{"classical proposal", optional, prop(2), ""},
		{"ML-KEM", optional, prop(1, ke(1, DHMLKEM768)), ""},
		{"required ML-KEM", required, prop(1, ke(1, DHMLKEM768)), ""},
		{"required left out", required, prop(1), "peer's selection leaves out ADDKE1, which we offered without NONE"},
		{"not offered", optional, prop(1, ke(1, DHMLKEM1024)), "peer selected ADDKE1 ML_KEM_1024, which we did not offer in proposal 1"},
		{"NONE not offered", required, prop(1, ke(1, DHNone)), "peer selected ADDKE1 NONE, which we did not offer in proposal 1"},
		{"type not offered", optional, prop(2, ke(2, DHNone)), "peer selected ADDKE2 NONE, which we did not offer in proposal 2"},
		{"two of a type", optional, prop(1, ke(1, DHNone), ke(1, DHNone)), "peer selected more than one ADDKE1 transform"},
	} {
		err := checkAddKEChoice(tc.offer, tc.chosen)
		if got := fmtErr(err); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestInitiateAddKE: the probe's offer of strongSwan's
// ke1_mlkem768-ke1_none to an oemesh responder comes up classically
// (NONE chosen); with a responder that picks ML-KEM-768 the IKE SA is
// hybrid: one IKE_INTERMEDIATE (message ID 1) before IKE_AUTH (2).
func TestInitiateAddKE(t *testing.T) {
	pol, offer, err := ParseOffer(ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none")
	if err != nil {
		t.Fatal(err)
	}
	n, a, b := newPair(t, nil, nil, nil)
	trace := &Trace{}
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, IKE: pol, IKEOffer: offer, Trace: trace}); err != nil {
		t.Fatalf("ke1_mlkem768-ke1_none to oemesh: %v", err)
	}
	if trace.IKESuite.DH != DHCurve25519 || trace.IKESuite.PRF != PRFHMACSHA2_384 {
		t.Errorf("IKE suite %+v", trace.IKESuite)
	}

	if len(trace.AddKE) != 0 {
		t.Errorf("additional exchanges with a classical responder: %v", trace.AddKE)
	}

	n, a, b = newPair(t, nil, nil, nil)
	b.e.cfg.IKE.AddKE[0] = []DHGroup{DHMLKEM768, DHNone}
	trace = &Trace{}
	if _, err = n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, IKE: pol, IKEOffer: offer, Trace: trace}); err != nil {
		t.Fatalf("responder choosing ML-KEM-768: %v", err)
	}
	if !slices.Equal(trace.AddKE, []DHGroup{DHMLKEM768}) {
		t.Errorf("additional exchanges %v, want ML_KEM_768", trace.AddKE)
	}
	var exch []string
	for _, x := range trace.Exchanges {
		exch = append(exch, fmt.Sprintf("%v/%d", x.Exchange, x.MessageID))
	}
	if want := []string{"IKE_SA_INIT/0", "IKE_INTERMEDIATE/1", "IKE_AUTH/2"}; !slices.Equal(exch, want) {
		t.Errorf("exchanges %v, want %v", exch, want)
	}
}

// FuzzSelectAddKE: proposals of arbitrary (type, ID) transforms, ADDKE
// types among them, against policies with and without additional key
// exchanges. Whatever Select chooses, its answer holds exactly one
// transform of each type the chosen proposal carried, each of them
// offered there, and an ADDKE method our policy accepts.
func FuzzSelectAddKE(f *testing.F) {
	// pairs of octets: transform type, transform ID (low octet)
	f.Add([]byte{1, 20, 2, 6, 4, 31, 6, 36, 6, 0})
	f.Add([]byte{1, 20, 2, 5, 4, 31, 6, 36, 8, 0, 8, 19, 12, 0})
	f.Add([]byte{1, 12, 3, 12, 2, 5, 4, 14, 7, 0, 13, 1})
	policies := []Policy{DefaultIKEPolicy(), DefaultIKEPolicy(), DefaultIKEPolicy()}
	policies[1].AddKE[0] = []DHGroup{DHMLKEM768, DHNone}
	policies[2].AddKE[0] = []DHGroup{DHMLKEM1024}
	policies[2].AddKE[2] = []DHGroup{DHNone, DHECP256}
	f.Fuzz(func(t *testing.T, b []byte) {
		prop := Proposal{Number: 1, Protocol: ProtocolIKE}
		for i := 0; i+1 < len(b) && len(prop.Transforms) < 32; i += 2 {
			t := Transform{Type: TransformType(b[i] % 16), ID: uint16(b[i+1])}
			if t.Type == TransformENCR && EncrID(t.ID) == EncrAESGCM16 {
				t.KeyLength = 256
			}
			prop.Transforms = append(prop.Transforms, t)
		}
		for _, p := range policies {
			sel, err := p.Select([]Proposal{prop})
			if err != nil {
				continue
			}
			types := map[TransformType]int{}
			for _, x := range sel.Proposal(nil).Transforms {
				types[x.Type]++
				if !slices.ContainsFunc(prop.Transforms, func(o Transform) bool { return o.Type == x.Type && o.ID == x.ID }) {
					t.Fatalf("answer carries %v/%d, not offered in %v", x.Type, x.ID, prop.Transforms)
				}
				if n := x.Type.AddKE(); n != 0 {
					ours := p.AddKE[n-1]
					if len(ours) == 0 {
						ours = []DHGroup{DHNone}
					}
					if !slices.Contains(ours, DHGroup(x.ID)) {
						t.Fatalf("ADDKE%d %v chosen, policy accepts %v", n, DHGroup(x.ID), ours)
					}
				}
			}
			for _, o := range prop.Transforms {
				if o.Type.AddKE() != 0 && types[o.Type] != 1 {
					t.Fatalf("answer holds %d transforms of %v, offered in %v", types[o.Type], o.Type, prop.Transforms)
				}
			}
			for typ, k := range types {
				if k != 1 {
					t.Fatalf("answer holds %d transforms of %v", k, typ)
				}
			}
		}
	})
}
