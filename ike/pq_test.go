package ike

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

func TestParsePQMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want PQMode
	}{{"prefer", PQPrefer}, {"require", PQRequire}, {"off", PQOff}} {
		got, err := ParsePQMode(tc.in)
		if err != nil || got != tc.want || got.String() != tc.in {
			t.Errorf("ParsePQMode(%q) = %v (%q), %v; want %v", tc.in, got, got.String(), err, tc.want)
		}
	}
	var zero PQMode
	if zero != PQPrefer {
		t.Errorf("the zero PQMode is %v, want prefer (the default)", zero)
	}
	for _, bad := range []string{"", "Prefer", "on", "required"} {
		if _, err := ParsePQMode(bad); err == nil || !strings.Contains(err.Error(), "must be prefer, require or off") {
			t.Errorf("ParsePQMode(%q): %v, want an error naming the values", bad, err)
		}
	}
}

// addKEOf returns the ADDKE transforms of a proposal and the proposal
// without them.
func addKEOf(p Proposal) (addke, rest []Transform) {
	for _, tr := range p.Transforms {
		if tr.Type.AddKE() != 0 {
			addke = append(addke, tr)
		} else {
			rest = append(rest, tr)
		}
	}
	return addke, rest
}

// TestPQModeIKEPolicy: what each mode offers. prefer: the hybrid
// proposals (ML-KEM-768 or NONE in ADDKE1), then the same without ADDKE
// for peers without RFC 9370; require: the hybrid alone; off: the
// classical default.
func TestPQModeIKEPolicy(t *testing.T) {
	ke768 := Transform{Type: TransformADDKE1, ID: uint16(DHMLKEM768)}
	keNone := Transform{Type: TransformADDKE1, ID: uint16(DHNone)}
	classical := DefaultIKEPolicy().Proposals(nil, DHCurve25519)
	if len(classical) != 2 {
		t.Fatalf("the classical default makes %d proposals, want 2 (AEAD, other)", len(classical))
	}
	for _, tc := range []struct {
		mode PQMode
		want [][]Transform // each proposal's ADDKE transforms, nil for a classical one
	}{
		{PQPrefer, [][]Transform{{ke768, keNone}, {ke768, keNone}, nil, nil}},
		{PQRequire, [][]Transform{{ke768}, {ke768}}},
		{PQOff, [][]Transform{nil, nil}},
	} {
		p := tc.mode.IKEPolicy()
		if err := p.Validate(); err != nil {
			t.Errorf("%v: Validate: %v", tc.mode, err)
		}
		offer := p.Proposals(nil, DHCurve25519)
		if len(offer) != len(tc.want) {
			t.Errorf("%v: %d proposals, want %d", tc.mode, len(offer), len(tc.want))
			continue
		}
		for i, prop := range offer {
			addke, rest := addKEOf(prop)
			if prop.Number != uint8(i+1) {
				t.Errorf("%v: proposal %d numbered %d", tc.mode, i+1, prop.Number)
			}
			if !reflect.DeepEqual(addke, tc.want[i]) {
				t.Errorf("%v: proposal %d ADDKE %v, want %v", tc.mode, i+1, addke, tc.want[i])
			}
			// Apart from ADDKE, the proposals are the classical default's,
			// the AEAD one first: the hybrid costs no algorithm.
			if !reflect.DeepEqual(rest, classical[i%2].Transforms) {
				t.Errorf("%v: proposal %d without ADDKE %v, want %v", tc.mode, i+1, rest, classical[i%2].Transforms)
			}
		}
	}
	if !reflect.DeepEqual(PQOff.IKEPolicy(), DefaultIKEPolicy()) {
		t.Errorf("off is not the classical default policy")
	}
}

// OfferClassical beside a required exchange contradicts itself: the
// responder side would refuse the classical proposals it offers.
func TestValidateOfferClassical(t *testing.T) {
	p := PQRequire.IKEPolicy()
	p.OfferClassical = true
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "classical proposals offered although ADDKE1 is required") {
		t.Errorf("Validate: %v, want the contradiction named", err)
	}
	// Without any ADDKE it offers nothing more.
	p = DefaultIKEPolicy()
	p.OfferClassical = true
	if err := p.Validate(); err != nil || len(p.Proposals(nil, DHCurve25519)) != 2 {
		t.Errorf("OfferClassical without ADDKE: %v, %d proposals", err, len(p.Proposals(nil, DHCurve25519)))
	}
}

// TestParseProposalsClassicalAlternative: a conn that lists a hybrid
// proposal and a classical one wants the classical one to stay reachable
// for peers without RFC 9370, as strongSwan offers both.
func TestParseProposalsClassicalAlternative(t *testing.T) {
	p, err := ParseProposals(ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768,aes256gcm16-prfsha384-x25519")
	if err != nil {
		t.Fatal(err)
	}
	if !p.OfferClassical || !slices.Equal(p.AddKE[0], []DHGroup{DHMLKEM768, DHNone}) {
		t.Errorf("hybrid then classical: OfferClassical %v, ADDKE1 %v; want true, [ML_KEM_768 NONE]", p.OfferClassical, p.AddKE[0])
	}
	offer := p.Proposals(nil, DHCurve25519)
	if len(offer) != 2 {
		t.Fatalf("%d proposals, want the hybrid and the classical", len(offer))
	}
	if a, _ := addKEOf(offer[0]); len(a) != 2 {
		t.Errorf("proposal 1 ADDKE %v, want ML_KEM_768 and NONE", a)
	}
	if a, _ := addKEOf(offer[1]); len(a) != 0 {
		t.Errorf("proposal 2 ADDKE %v, want none", a)
	}
	// The hybrid alone stays required, and offers nothing classical.
	p, err = ParseProposals(ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768")
	if err != nil {
		t.Fatal(err)
	}
	if p.OfferClassical || !slices.Equal(p.AddKE[0], []DHGroup{DHMLKEM768}) || len(p.Proposals(nil, DHCurve25519)) != 1 {
		t.Errorf("hybrid alone: OfferClassical %v, ADDKE1 %v", p.OfferClassical, p.AddKE[0])
	}
}

// TestPQModesNegotiate: every initiator mode against every responder
// mode, engine to engine. The IKE SA is hybrid when both can run
// ML-KEM-768, classical when one side is off and the other does not
// require it, and NO_PROPOSAL_CHOSEN when require meets off, whichever
// side requires.
func TestPQModesNegotiate(t *testing.T) {
	modes := []PQMode{PQPrefer, PQRequire, PQOff}
	for _, mi := range modes {
		for _, mr := range modes {
			t.Run(mi.String()+"-to-"+mr.String(), func(t *testing.T) {
				n, a, b := newPair(t, nil, nil, nil)
				a.e.cfg.IKE = mi.IKEPolicy()
				b.e.cfg.IKE = mr.IKEPolicy()
				trace := &Trace{}
				_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: trace})
				fail := (mi == PQRequire && mr == PQOff) || (mi == PQOff && mr == PQRequire)
				hybrid := mi != PQOff && mr != PQOff
				switch {
				case fail:
					var ne *NotifyError
					if !errors.As(err, &ne) || ne.Type != wire.NotifyNoProposalChosen || ne.Exchange != wire.IKESAInit {
						t.Errorf("initiate: %v; want the peer's NO_PROPOSAL_CHOSEN in IKE_SA_INIT", err)
					}
					// Requiring it ourselves, the error says so.
					hint := "every proposal we offered requires ADDKE1 [ML_KEM_768]"
					if got := err != nil && strings.Contains(err.Error(), hint); got != (mi == PQRequire) {
						t.Errorf("initiate: %v; want %q in it: %v", err, hint, mi == PQRequire)
					}
				case err != nil:
					t.Errorf("initiate: %v", err)
				case hybrid && !slices.Equal(trace.AddKE, []DHGroup{DHMLKEM768}):
					t.Errorf("additional exchanges %v, want ML_KEM_768", trace.AddKE)
				case !hybrid && len(trace.AddKE) != 0:
					t.Errorf("additional exchanges %v, want none (classical)", trace.AddKE)
				}
				if err == nil && trace.IKESuite.DH != DHCurve25519 {
					t.Errorf("IKE_SA_INIT group %v, want X25519", trace.IKESuite.DH)
				}
			})
		}
	}
}

// TestAddKELogged: each side logs, at debug level, every additional key
// exchange it finished, with the method; a classical IKE SA logs none.
func TestAddKELogged(t *testing.T) {
	for _, tc := range []struct {
		responder PQMode
		want      int
	}{{PQPrefer, 1}, {PQOff, 0}} {
		var logs [2]bytes.Buffer
		peer := 0
		n, a, b := newPair(t, nil, nil, func(c *EngineConfig) {
			c.Logger = slog.New(slog.NewTextHandler(&logs[peer], &slog.HandlerOptions{Level: slog.LevelDebug}))
			peer++
		})
		b.e.cfg.IKE = tc.responder.IKEPolicy()
		a.e.cfg.IKE = PQPrefer.IKEPolicy()
		if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
			t.Fatalf("prefer to %v: %v", tc.responder, err)
		}
		for i, side := range []string{"initiator", "responder"} {
			got := strings.Count(logs[i].String(), `msg="ike: additional key exchange done"`)
			withMethod := strings.Count(logs[i].String(), "addke=1 method=ML_KEM_768")
			if got != tc.want || withMethod != tc.want {
				t.Errorf("prefer to %v: the %s logged %d additional key exchanges (%d naming ML-KEM-768), want %d", tc.responder, side, got, withMethod, tc.want)
			}
		}
	}
}

func TestRequiredAddKE(t *testing.T) {
	for _, tc := range []struct {
		mode PQMode
		want string
	}{
		{PQRequire, "ADDKE1 [ML_KEM_768]"},
		{PQPrefer, ""}, // NONE offered, and classical proposals
		{PQOff, ""},
	} {
		if got := requiredAddKE(tc.mode.IKEPolicy().Proposals(nil, DHCurve25519)); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.mode, got, tc.want)
		}
	}
	p := PQPrefer.IKEPolicy()
	p.OfferClassical = false
	p.AddKE[0] = []DHGroup{DHMLKEM768}
	p.AddKE[2] = []DHGroup{DHMLKEM1024, DHECP384}
	if got, want := requiredAddKE(p.Proposals(nil, DHCurve25519)), "ADDKE1 [ML_KEM_768] and ADDKE3 [ML_KEM_1024 ECP_384]"; got != want {
		t.Errorf("two required: %q, want %q", got, want)
	}
	if got := requiredAddKE(nil); got != "" {
		t.Errorf("no offer: %q", got)
	}
}

// TestSelectPrefersHybrid: a prefer responder offered the same
// algorithms classically and with ML-KEM-768 chooses the hybrid, in
// whichever order the initiator put them; off chooses the classical one.
func TestSelectPrefersHybrid(t *testing.T) {
	var classical, hybrid Proposal
	for _, prop := range PQPrefer.IKEPolicy().Proposals(nil, DHCurve25519) {
		addke, _ := addKEOf(prop)
		switch {
		case len(addke) > 0 && hybrid.Number == 0:
			hybrid = prop
		case len(addke) == 0 && classical.Number == 0:
			classical = prop
		}
	}
	classical.Number, hybrid.Number = 1, 2
	for _, tc := range []struct {
		mode  PQMode
		offer []Proposal
		want  DHGroup
	}{
		{PQPrefer, []Proposal{classical, hybrid}, DHMLKEM768},
		{PQPrefer, []Proposal{hybrid, classical}, DHMLKEM768},
		{PQOff, []Proposal{classical, hybrid}, DHNone},
	} {
		sel, err := tc.mode.IKEPolicy().Select(tc.offer)
		if err != nil || sel.AddKE[0] != tc.want {
			t.Errorf("%v, offer of proposals %d then %d: %+v, %v; want ADDKE1 %v", tc.mode, tc.offer[0].Number, tc.offer[1].Number, sel, err, tc.want)
		}
	}
}
