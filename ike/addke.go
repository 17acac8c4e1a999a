package ike

import (
	"fmt"
	"slices"
	"strings"
)

// This file holds RFC 9370's additional key exchanges (ADDKE1 to ADDKE7,
// transform types 6 to 12) as far as proposals go: the policy that lists
// them, the offer that carries them, the choice among them, and the
// initiator's check of the responder's choice. A new IKE SA runs the
// chosen ones in IKE_INTERMEDIATE exchanges (exchange_intermediate.go);
// CREATE_CHILD_SA (rekeys, and CHILD SAs with PFS) runs them in
// IKE_FOLLOWUP_KE exchanges (exchange_followup.go).

// addKEType is the transform type of ADDKEn, n from 1 to 7.
func addKEType(n int) TransformType { return TransformADDKE1 + TransformType(n-1) }

// offeredAddKE is what one proposal offers for the additional key
// exchanges.
type offeredAddKE struct {
	methods [7][]DHGroup // usable transforms of each type, as offered
	present uint8        // bit n-1: the proposal carries ADDKEn
}

// validateAddKE refuses methods that are not implemented (ML-KEM-512).
// IKE runs the others in IKE_INTERMEDIATE for a new IKE SA, and both IKE
// and ESP in IKE_FOLLOWUP_KE when CREATE_CHILD_SA rekeys or creates an SA
// (exchange_followup.go). It also refuses OfferClassical beside a
// required exchange: the responder side of such a policy would refuse
// the classical proposals it offers.
func (p Policy) validateAddKE() error {
	if p.OfferClassical {
		for i, ms := range p.AddKE {
			if len(ms) > 0 && !slices.Contains(ms, DHNone) {
				return fmt.Errorf("ike: %v policy: classical proposals offered although ADDKE%d is required (%v without NONE)", p.Protocol, i+1, names(ms))
			}
		}
	}
	for i, ms := range p.AddKE {
		for _, m := range ms {
			if m != DHNone && !m.Supported() {
				return fmt.Errorf("ike: %v policy: ADDKE%d %v: key exchange method not implemented", p.Protocol, i+1, m)
			}
		}
	}
	return nil
}

// addKETransforms is the offer's ADDKE transforms: for each type with
// methods, all of them in order.
func (p Policy) addKETransforms() []Transform {
	var ts []Transform
	for i, ms := range p.AddKE {
		for _, m := range ms {
			ts = append(ts, Transform{Type: addKEType(i + 1), ID: uint16(m)})
		}
	}
	return ts
}

// addKETransforms is the answer's ADDKE transforms: exactly one of each
// type the chosen proposal carried, NONE where NONE was chosen (RFC 7296
// §3.3.6: one transform of each type offered).
func (s *Selection) addKETransforms() []Transform {
	var ts []Transform
	for i, m := range s.AddKE {
		if s.addKETypes&(1<<i) != 0 {
			ts = append(ts, Transform{Type: addKEType(i + 1), ID: uint16(m)})
		}
	}
	return ts
}

// matchAddKE picks, for each additional key exchange, our most preferred
// method among those offered, and ranks it in sc. A type offered without
// any method we accept makes the proposal unacceptable, and so does a
// type we require (a list without NONE) that the proposal leaves out.
// With no list of ours for a type, we accept only NONE for it. As
// strongSwan does, a method already chosen for the IKE_SA_INIT exchange
// or an earlier ADDKE is not chosen again: a second run of the same
// method adds nothing. It returns why the proposal is unacceptable, or "".
func (p Policy) matchAddKE(sel *Selection, sc *score, offered offeredAddKE) string {
	chosen := []DHGroup{sel.DH}
	for i := range 7 {
		ours := p.AddKE[i]
		if offered.present&(1<<i) == 0 {
			if len(ours) > 0 && !slices.Contains(ours, DHNone) {
				return fmt.Sprintf("no ADDKE%d offered, require one of %v", i+1, names(ours))
			}
			// Leaving the type out means NONE: rank it where we rank
			// NONE, so that of a classical and a hybrid proposal that
			// otherwise tie, the one running a method we prefer wins.
			sc[scoreAddKE+i] = max(slices.Index(ours, DHNone), 0)
			continue
		}
		if len(ours) == 0 {
			ours = []DHGroup{DHNone}
		}
		r := -1
		for j, m := range ours {
			if slices.Contains(offered.methods[i], m) && (m == DHNone || !slices.Contains(chosen, m)) {
				r = j
				break
			}
		}
		if r < 0 {
			return fmt.Sprintf("no acceptable ADDKE%d: offered %v, accept %v", i+1, names(offered.methods[i]), names(ours))
		}
		sel.AddKE[i] = ours[r]
		sel.addKETypes |= 1 << i
		sc[scoreAddKE+i] = r
		chosen = append(chosen, ours[r])
	}
	return ""
}

// checkAddKEChoice checks, as the initiator, the ADDKE transforms of the
// responder's chosen proposal against our offer. A method we offered is
// then run in IKE_INTERMEDIATE. NONE, or a type left out although we
// offered it, means no additional exchange: the IKE SA comes up
// classically. Leaving the type out is
// against RFC 7296 §3.3.6 (one transform of each type offered), but it is
// what strongSwan 6.1 answers when it picks NONE, so we accept it when
// NONE was among the methods we offered for that type, and only then.
func checkAddKEChoice(offer []Proposal, chosen Proposal) error {
	var ours offeredAddKE
	for _, prop := range offer {
		if prop.Number != chosen.Number {
			continue
		}
		for _, t := range prop.Transforms {
			if n := t.Type.AddKE(); n != 0 {
				ours.present |= 1 << (n - 1)
				ours.methods[n-1] = append(ours.methods[n-1], DHGroup(t.ID))
			}
		}
	}
	var got offeredAddKE
	for _, t := range chosen.Transforms {
		n := t.Type.AddKE()
		if n == 0 {
			continue
		}
		m := DHGroup(t.ID)
		switch {
		case got.present&(1<<(n-1)) != 0:
			return fmt.Errorf("peer selected more than one ADDKE%d transform", n)
		case !slices.Contains(ours.methods[n-1], m):
			return fmt.Errorf("peer selected ADDKE%d %v, which we did not offer in proposal %d", n, m, chosen.Number)
		}
		got.present |= 1 << (n - 1)
	}
	for i := range 7 {
		if ours.present&(1<<i) != 0 && got.present&(1<<i) == 0 && !slices.Contains(ours.methods[i], DHNone) {
			return fmt.Errorf("peer's selection leaves out ADDKE%d, which we offered without NONE", i+1)
		}
	}
	return nil
}

// requiredAddKE names the additional key exchanges every proposal of offer
// requires (a type each carries, none with NONE), e.g. "ADDKE1
// [ML_KEM_768]", or "" when the offer leaves a classical choice. It
// explains a NO_PROPOSAL_CHOSEN answer to an offer that insists on them.
func requiredAddKE(offer []Proposal) string {
	var req []string
	for n := 1; n <= 7; n++ {
		var methods []DHGroup
		required := len(offer) > 0
		for _, prop := range offer {
			carried := false
			for _, t := range prop.Transforms {
				if t.Type.AddKE() != n {
					continue
				}
				carried = true
				if DHGroup(t.ID) == DHNone {
					required = false
				}
				methods = appendNew(methods, DHGroup(t.ID))
			}
			required = required && carried
		}
		if required {
			req = append(req, fmt.Sprintf("ADDKE%d %v", n, names(methods)))
		}
	}
	return strings.Join(req, " and ")
}
