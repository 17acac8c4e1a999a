package ike

import (
	"fmt"
	"math/bits"
	"strings"
)

// Policy is our side of a negotiation: for one protocol, the algorithms we
// accept, each list in our order of preference. Proposals turns it into an
// offer; Select matches a peer's offer against it.
type Policy struct {
	Protocol ProtocolID
	Encr     []EncrAlg
	PRF      []PRFID   // IKE only
	Integ    []IntegID // for non-AEAD ciphers
	// DH lists the groups we accept. For IKE it must not be empty. For
	// ESP/AH, empty means no PFS; DHNone in the list means PFS optional.
	DH  []DHGroup
	ESN []ESN // ESP/AH only; empty means ESNOff
	// AddKE lists, for each additional key exchange of RFC 9370 (AddKE[0]
	// for ADDKE1, transform type 6, up to AddKE[6] for ADDKE7), the
	// methods we accept in order of preference; DHNone in a list makes
	// that exchange optional. An empty list means we do not run it: a
	// proposal carrying that type is acceptable only when it offers NONE
	// for it (addke.go). Validate accepts no method but DHNone until
	// IKE_INTERMEDIATE is implemented.
	AddKE [7][]DHGroup
	// OfferClassical makes Proposals end the offer with the same
	// proposals again without their ADDKE transforms. Peers without RFC
	// 9370 (strongSwan 5.9, Libreswan 4) refuse a proposal that carries
	// any transform of types 6 to 12, ADDKEn = NONE included, as RFC 7296
	// §3.3.6 tells them to; the classical copies are what they can
	// choose. It needs every AddKE list to hold NONE (Validate): it only
	// restates, for those peers, that the exchanges are optional.
	OfferClassical bool
}

// DefaultIKEPolicy is the engine's IKE policy when EngineConfig.IKE is
// empty, and what the proposal keyword "default" stands for: classical
// (PQOff), AEADs first, X25519 first, and the Libreswan OE defaults
// (AES-GCM with PRF-SHA2-512 and MODP2048) still accepted. oemeshd and the
// oemesh tools do not use it as it is: their default is
// PQPrefer.IKEPolicy(), these algorithms with the ML-KEM-768 hybrid.
func DefaultIKEPolicy() Policy {
	return Policy{
		Protocol: ProtocolIKE,
		Encr: []EncrAlg{
			{EncrAESGCM16, 256}, {EncrChaCha20Poly1305, 0}, {EncrAESGCM16, 128},
			{EncrAESCBC, 256}, {EncrAESCBC, 128},
		},
		PRF:   []PRFID{PRFHMACSHA2_256, PRFHMACSHA2_512, PRFHMACSHA2_384},
		Integ: []IntegID{IntegHMACSHA2_256_128, IntegHMACSHA2_512_256, IntegHMACSHA2_384_192},
		DH:    []DHGroup{DHCurve25519, DHECP256, DHECP384, DHECP521, DHMODP2048, DHMODP3072, DHMODP4096},
	}
}

// DefaultESPPolicy is what oemesh offers and accepts for CHILD SAs: no PFS
// in IKE_AUTH, PFS optional in CREATE_CHILD_SA.
func DefaultESPPolicy() Policy {
	return Policy{
		Protocol: ProtocolESP,
		Encr: []EncrAlg{
			{EncrAESGCM16, 256}, {EncrChaCha20Poly1305, 0}, {EncrAESGCM16, 128},
			{EncrAESCBC, 256}, {EncrAESCBC, 128},
		},
		Integ: []IntegID{IntegHMACSHA2_256_128, IntegHMACSHA2_512_256, IntegHMACSHA2_384_192},
		ESN:   []ESN{ESNOn, ESNOff},
	}
}

// Validate checks that every algorithm in the policy is implemented.
func (p Policy) Validate() error {
	if len(p.Encr) == 0 {
		return fmt.Errorf("ike: %v policy: no encryption algorithm", p.Protocol)
	}
	for _, e := range p.Encr {
		if err := e.check(); err != nil {
			return err
		}
	}
	for _, f := range p.PRF {
		if err := f.check(); err != nil {
			return err
		}
	}
	for _, i := range p.Integ {
		if err := i.check(); err != nil {
			return err
		}
	}
	for _, g := range p.DH {
		if g != DHNone && !g.Supported() {
			return fmt.Errorf("ike: DH group %v not implemented", g)
		}
	}
	if p.Protocol == ProtocolIKE && (len(p.PRF) == 0 || len(p.DH) == 0) {
		return fmt.Errorf("ike: IKE policy needs a PRF and a DH group")
	}
	return p.validateAddKE()
}

// Proposals returns the policy as an offer: one proposal for the AEAD
// ciphers and one for the others (RFC 5282 forbids mixing them), each
// with spi, and with OfferClassical the same two again without ADDKE
// transforms. dh, when not DHNone, is put first among the DH transforms so
// that it matches the KE payload we send.
func (p Policy) Proposals(spi []byte, dh DHGroup) []Proposal {
	var aead, plain []Transform
	for _, e := range p.Encr {
		t := Transform{Type: TransformENCR, ID: uint16(e.ID), KeyLength: uint16(e.KeyBits)}
		if e.ID.AEAD() {
			aead = append(aead, t)
		} else {
			plain = append(plain, t)
		}
	}
	var common []Transform
	for _, f := range p.PRF {
		common = append(common, Transform{Type: TransformPRF, ID: uint16(f)})
	}
	var dhs []Transform
	if dh != DHNone {
		dhs = append(dhs, Transform{Type: TransformDH, ID: uint16(dh)})
	}
	for _, g := range p.DH {
		if g != dh || dh == DHNone {
			dhs = append(dhs, Transform{Type: TransformDH, ID: uint16(g)})
		}
	}
	var esns []Transform
	if p.Protocol != ProtocolIKE {
		for _, e := range p.ESN {
			esns = append(esns, Transform{Type: TransformESN, ID: uint16(e)})
		}
		if len(esns) == 0 {
			esns = append(esns, Transform{Type: TransformESN, ID: uint16(ESNOff)})
		}
	}
	addkes := p.addKETransforms()
	var out []Proposal
	add := func(encr []Transform, integ bool) {
		if len(encr) == 0 {
			return
		}
		ts := append([]Transform(nil), encr...)
		ts = append(ts, common...)
		if integ {
			for _, i := range p.Integ {
				ts = append(ts, Transform{Type: TransformINTEG, ID: uint16(i)})
			}
		}
		ts = append(ts, dhs...)
		ts = append(ts, esns...)
		ts = append(ts, addkes...)
		out = append(out, Proposal{Number: uint8(len(out) + 1), Protocol: p.Protocol, SPI: spi, Transforms: ts})
	}
	add(aead, false)
	add(plain, true)
	if p.OfferClassical && len(addkes) > 0 {
		addkes = nil
		add(aead, false)
		add(plain, true)
	}
	return out
}

// PreferDH returns a copy of p with g moved to the front of the DH list
// when p accepts it. A responder uses it with the group of the peer's KE
// payload, so that a group we accept needs no INVALID_KE_PAYLOAD round trip.
// When g is first already (the usual case: most initiators send a KE of
// our preferred group), p's DH list is kept, not copied, as the other
// lists of the copy are: this runs for every IKE_SA_INIT answered.
func (p Policy) PreferDH(g DHGroup) Policy {
	for i, x := range p.DH {
		if x == g {
			if i == 0 {
				return p
			}
			dh := make([]DHGroup, 0, len(p.DH))
			dh = append(append(dh, g), p.DH[:i]...)
			p.DH = append(dh, p.DH[i+1:]...)
			return p
		}
	}
	return p
}

// Selection is the outcome of a successful negotiation.
type Selection struct {
	Number   uint8 // the peer's proposal number
	Protocol ProtocolID
	PeerSPI  []byte
	Encr     EncrAlg
	PRF      PRFID
	Integ    IntegID
	DH       DHGroup // DHNone for a CHILD SA without PFS
	ESN      ESN
	// AddKE is the method chosen for each additional key exchange
	// (AddKE[0] for ADDKE1): DHNone when the proposal did not carry that
	// type or NONE was chosen.
	AddKE [7]DHGroup
	// addKETypes has bit n-1 set when the proposal carried ADDKEn: the
	// answer then carries exactly one transform of that type.
	addKETypes uint8
}

// Proposal returns the single-transform-per-type proposal a responder
// sends back, carrying spi (the responder's own SPI for ESP).
func (s *Selection) Proposal(spi []byte) Proposal {
	// Sized for the whole answer (ENCR, PRF or ESN, INTEG, DH and the
	// ADDKE types): one allocation, where appending grew it up to four
	// times for every SA answered.
	ts := make([]Transform, 0, 4+bits.OnesCount8(s.addKETypes))
	ts = append(ts, Transform{Type: TransformENCR, ID: uint16(s.Encr.ID), KeyLength: uint16(s.Encr.KeyBits)})
	if s.Protocol == ProtocolIKE {
		ts = append(ts, Transform{Type: TransformPRF, ID: uint16(s.PRF)})
	}
	if s.Integ != IntegNone {
		ts = append(ts, Transform{Type: TransformINTEG, ID: uint16(s.Integ)})
	}
	if s.DH != DHNone {
		ts = append(ts, Transform{Type: TransformDH, ID: uint16(s.DH)})
	}
	if s.Protocol != ProtocolIKE {
		ts = append(ts, Transform{Type: TransformESN, ID: uint16(s.ESN)})
	}
	for i, m := range s.AddKE {
		if s.addKETypes&(1<<i) != 0 {
			ts = append(ts, Transform{Type: addKEType(i + 1), ID: uint16(m)})
		}
	}
	return Proposal{Number: s.Number, Protocol: s.Protocol, SPI: spi, Transforms: ts}
}

// IKESuite returns the suite for the IKE key schedule.
func (s *Selection) IKESuite() IKESuite {
	return IKESuite{Encr: s.Encr, PRF: s.PRF, Integ: s.Integ, DH: s.DH}
}

// ChildSuite returns the suite for CHILD SA keys.
func (s *Selection) ChildSuite() ChildSuite {
	return ChildSuite{Encr: s.Encr, Integ: s.Integ, DH: s.DH, ESN: s.ESN == ESNOn}
}

// NoProposalChosenError says why no offered proposal was acceptable, one
// reason per proposal. The engine answers NO_PROPOSAL_CHOSEN and logs it.
type NoProposalChosenError struct {
	Reasons []string
}

func (e *NoProposalChosenError) Error() string {
	if len(e.Reasons) == 0 {
		return "ike: no proposal chosen: no proposals offered"
	}
	return "ike: no proposal chosen: " + strings.Join(e.Reasons, "; ")
}

// rank returns the position of the best of offered in ours, or -1.
func rank[T comparable](ours []T, offered []T) (T, int) {
	var zero T
	for i, o := range ours {
		for _, x := range offered {
			if x == o {
				return o, i
			}
		}
	}
	return zero, -1
}

func names[T fmt.Stringer](xs []T) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = x.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}

// Select picks, among the peer's proposals, the one whose best transforms
// are most preferred by us (ENCR first, then PRF, INTEG, DH, ADDKE1 to
// ADDKE7, ESN), and within it our most preferred transform of each type.
// When nothing fits it returns a *NoProposalChosenError saying why for
// each proposal.
func (p Policy) Select(offered []Proposal) (*Selection, error) {
	// The best so far is kept by value: one Selection on the heap for the
	// answer, not one for every acceptable proposal.
	var best Selection
	var bestScore score
	found := false
	var reasons []string
	for _, prop := range offered {
		sel, score, why := p.match(prop)
		if why != "" {
			reasons = append(reasons, fmt.Sprintf("proposal %d: %s", prop.Number, why))
			continue
		}
		if !found || less(score, bestScore) {
			best, bestScore, found = sel, score, true
		}
	}
	if !found {
		return nil, &NoProposalChosenError{Reasons: reasons}
	}
	return &best, nil
}

// score ranks a proposal by our preference, lower first: the rank of its
// ENCR, PRF, INTEG, DH, ADDKE1 to ADDKE7 and ESN (scoreENCR and on).
type score [12]int

const (
	scoreENCR = iota
	scorePRF
	scoreINTEG
	scoreDH
	scoreAddKE // ADDKEn at scoreAddKE+n-1
	scoreESN   = scoreAddKE + 7
)

func less(a, b score) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// match chooses our most preferred transforms in prop and ranks them. The
// reason (the string) is empty when prop is acceptable and says why it is
// not otherwise. The Selection is returned by value, so that a proposal
// Select passes over costs no allocation.
func (p Policy) match(prop Proposal) (Selection, score, string) {
	var score score
	if prop.Protocol != p.Protocol {
		return Selection{}, score, fmt.Sprintf("protocol %v, want %v", prop.Protocol, p.Protocol)
	}
	switch {
	case p.Protocol == ProtocolIKE && len(prop.SPI) != 0 && len(prop.SPI) != 8:
		return Selection{}, score, fmt.Sprintf("SPI size %d", len(prop.SPI))
	case p.Protocol != ProtocolIKE && len(prop.SPI) != 4:
		return Selection{}, score, fmt.Sprintf("SPI size %d, want 4", len(prop.SPI))
	}
	// The transforms by type, in arrays on the stack for a proposal of
	// usual size; a longer one spills to the heap as appending grows it.
	var (
		encrs  [8]EncrAlg
		prfs   [4]PRFID
		integs [4]IntegID
		dhs    [8]DHGroup
		esns   [2]ESN
	)
	encr, prf, integ, dh, esn := encrs[:0], prfs[:0], integs[:0], dhs[:0], esns[:0]
	var addke offeredAddKE
	for _, t := range prop.Transforms {
		if !understood(t.Type) {
			// RFC 7296 §3.3.6: a proposal with a transform type we do
			// not understand (13 and above) is unacceptable as a whole.
			// Choosing it minus that transform would answer with a
			// proposal the peer never made.
			why := fmt.Sprintf("transform type %d", uint8(t.Type))
			if n := t.Type.String(); n != why {
				why += " (" + n + ")"
			}
			return Selection{}, score, why + " not understood"
		}
		if n := t.Type.AddKE(); n != 0 {
			addke.present |= 1 << (n - 1)
		}
		if len(t.Attributes) > 0 {
			continue // unknown attribute: the transform is unusable
		}
		switch t.Type {
		case TransformENCR:
			encr = append(encr, EncrAlg{EncrID(t.ID), int(t.KeyLength)})
		case TransformPRF:
			prf = append(prf, PRFID(t.ID))
		case TransformINTEG:
			integ = append(integ, IntegID(t.ID))
		case TransformDH:
			dh = append(dh, DHGroup(t.ID))
		case TransformESN:
			esn = append(esn, ESN(t.ID))
		default: // ADDKE1 to ADDKE7
			n := t.Type.AddKE()
			addke.methods[n-1] = append(addke.methods[n-1], DHGroup(t.ID))
		}
	}
	sel := Selection{Number: prop.Number, Protocol: prop.Protocol, PeerSPI: prop.SPI}

	// ENCR, and with it INTEG: an AEAD needs no INTEG (or NONE), a plain
	// cipher needs one we accept.
	encrRank := -1
	var why []string
	for i, e := range p.Encr {
		offered := false
		for _, o := range encr {
			if o == e {
				offered = true
			}
		}
		if !offered {
			continue
		}
		if e.ID.AEAD() {
			ok := true
			for _, x := range integ {
				if x != IntegNone {
					ok = false
				}
			}
			if !ok {
				why = append(why, fmt.Sprintf("%v offered with INTEG %v", e, names(integ)))
				continue
			}
			sel.Encr, sel.Integ, encrRank = e, IntegNone, i
			score[scoreINTEG] = 0
		} else {
			x, r := rank(p.Integ, integ)
			if r < 0 {
				why = append(why, fmt.Sprintf("%v needs INTEG, offered %v, accept %v", e, names(integ), names(p.Integ)))
				continue
			}
			sel.Encr, sel.Integ, encrRank = e, x, i
			score[scoreINTEG] = r
		}
		break
	}
	if encrRank < 0 {
		if len(why) > 0 {
			return Selection{}, score, strings.Join(why, ", ")
		}
		return Selection{}, score, fmt.Sprintf("no acceptable ENCR: offered %v, accept %v", names(encr), names(p.Encr))
	}
	score[scoreENCR] = encrRank

	if p.Protocol == ProtocolIKE {
		x, r := rank(p.PRF, prf)
		if r < 0 {
			return Selection{}, score, fmt.Sprintf("no acceptable PRF: offered %v, accept %v", names(prf), names(p.PRF))
		}
		sel.PRF, score[scorePRF] = x, r
		g, r := rank(p.DH, dh)
		if r < 0 || g == DHNone {
			return Selection{}, score, fmt.Sprintf("no acceptable DH group: offered %v, accept %v", names(dh), names(p.DH))
		}
		sel.DH, score[scoreDH] = g, r
		if why := p.matchAddKE(&sel, &score, addke); why != "" {
			return Selection{}, score, why
		}
		return sel, score, ""
	}

	// CHILD SA: DH is PFS.
	switch {
	case len(dh) == 0 || (len(dh) == 1 && dh[0] == DHNone):
		ok := len(p.DH) == 0
		for _, g := range p.DH {
			if g == DHNone {
				ok = true
			}
		}
		if !ok {
			return Selection{}, score, fmt.Sprintf("no PFS offered, require one of %v", names(p.DH))
		}
		sel.DH = DHNone
	default:
		g, r := rank(p.DH, dh)
		if r < 0 {
			return Selection{}, score, fmt.Sprintf("no acceptable PFS group: offered %v, accept %v", names(dh), names(append([]DHGroup{DHNone}, p.DH...)))
		}
		sel.DH, score[scoreDH] = g, r
	}
	if why := p.matchAddKE(&sel, &score, addke); why != "" {
		return Selection{}, score, why
	}
	wantESN := p.ESN
	if len(wantESN) == 0 {
		wantESN = []ESN{ESNOff}
	}
	if len(esn) == 0 {
		esn = []ESN{ESNOff}
	}
	e, r := rank(wantESN, esn)
	if r < 0 {
		return Selection{}, score, fmt.Sprintf("no acceptable ESN: offered %v, accept %v", names(esn), names(wantESN))
	}
	sel.ESN, score[scoreESN] = e, r
	return sel, score, ""
}
