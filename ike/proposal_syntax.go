package ike

import (
	"fmt"
	"slices"
	"strings"
)

// This file reads algorithm proposals written in strongSwan's syntax
// (swanctl.conf proposals and esp_proposals): algorithm keywords joined by
// '-', proposals separated by ',', e.g.
// "aes128gcm16-prfsha256-x25519,aes256-sha256-modp2048" for IKE or
// "aes128gcm16-esn" for ESP. Operators know it from strongSwan, so the
// probe and responder tools take it as it is.
//
// strongSwan's keN_<method> keywords (ke1_mlkem768, ke1_none) name RFC
// 9370 additional key exchanges, transform types ADDKE1 to ADDKE7, and
// fill Policy.AddKE. Until IKE_INTERMEDIATE is implemented, a policy may
// only hold NONE there (keN_none: the type is offered, and accepted,
// without the exchange), so ParseProposals refuses any other method.
// ParseOffer keeps them in the offer, so that `oemesh probe` can offer
// what a post-quantum peer offers and show how the other side answers.

// algKeyword is what one keyword stands for. Exactly one of the fields is
// set; unimplemented marks keywords strongSwan knows that oemesh does not
// implement, so the error can say so rather than "unknown".
type algKeyword struct {
	encr          *EncrAlg
	prf           PRFID
	integ         IntegID
	dh            DHGroup
	esn           *ESN
	unimplemented string
}

func encrKW(id EncrID, bits int) algKeyword { return algKeyword{encr: &EncrAlg{ID: id, KeyBits: bits}} }

func esnKW(e ESN) algKeyword { return algKeyword{esn: &e} }

func notImpl(what string) algKeyword { return algKeyword{unimplemented: what} }

// algKeywords maps strongSwan's keywords (proposal_keywords_static.txt) to
// transforms.
var algKeywords = func() map[string]algKeyword {
	m := map[string]algKeyword{
		// encryption
		"aes":              encrKW(EncrAESCBC, 128),
		"aes128":           encrKW(EncrAESCBC, 128),
		"aes192":           encrKW(EncrAESCBC, 192),
		"aes256":           encrKW(EncrAESCBC, 256),
		"chacha20poly1305": encrKW(EncrChaCha20Poly1305, 0),
		"3des":             notImpl("3DES encryption"),
		"des":              notImpl("DES encryption"),
		"blowfish":         notImpl("Blowfish encryption"),
		"cast128":          notImpl("CAST encryption"),
		"null":             notImpl("NULL encryption"),
		// integrity
		"sha256":      {integ: IntegHMACSHA2_256_128},
		"sha2_256":    {integ: IntegHMACSHA2_256_128},
		"sha384":      {integ: IntegHMACSHA2_384_192},
		"sha2_384":    {integ: IntegHMACSHA2_384_192},
		"sha512":      {integ: IntegHMACSHA2_512_256},
		"sha2_512":    {integ: IntegHMACSHA2_512_256},
		"sha1":        notImpl("HMAC-SHA1 integrity"),
		"sha":         notImpl("HMAC-SHA1 integrity"),
		"sha1_160":    notImpl("HMAC-SHA1-160 integrity"),
		"sha256_96":   notImpl("truncated HMAC-SHA2-256-96 integrity"),
		"sha2_256_96": notImpl("truncated HMAC-SHA2-256-96 integrity"),
		"md5":         notImpl("HMAC-MD5 integrity"),
		"md5_128":     notImpl("HMAC-MD5-128 integrity"),
		"aesxcbc":     notImpl("AES-XCBC integrity"),
		"aescmac":     notImpl("AES-CMAC integrity"),
		"aes128gmac":  notImpl("AES-GMAC integrity"),
		"aes192gmac":  notImpl("AES-GMAC integrity"),
		"aes256gmac":  notImpl("AES-GMAC integrity"),
		// PRFs
		"prfsha256":  {prf: PRFHMACSHA2_256},
		"prfsha384":  {prf: PRFHMACSHA2_384},
		"prfsha512":  {prf: PRFHMACSHA2_512},
		"prfsha1":    notImpl("the HMAC-SHA1 PRF"),
		"prfmd5":     notImpl("the HMAC-MD5 PRF"),
		"prfaesxcbc": notImpl("the AES-XCBC PRF"),
		"prfaescmac": notImpl("the AES-CMAC PRF"),
		// key exchange
		"modp2048":     {dh: DHMODP2048},
		"modp3072":     {dh: DHMODP3072},
		"modp4096":     {dh: DHMODP4096},
		"ecp256":       {dh: DHECP256},
		"ecp384":       {dh: DHECP384},
		"ecp521":       {dh: DHECP521},
		"x25519":       {dh: DHCurve25519},
		"curve25519":   {dh: DHCurve25519},
		"modp768":      notImpl("MODP-768"),
		"modp1024":     notImpl("MODP-1024"),
		"modp1536":     notImpl("MODP-1536"),
		"modp6144":     notImpl("MODP-6144"),
		"modp8192":     notImpl("MODP-8192"),
		"modp1024s160": notImpl("MODP-1024 with 160-bit subgroup"),
		"modp2048s224": notImpl("MODP-2048 with 224-bit subgroup"),
		"modp2048s256": notImpl("MODP-2048 with 256-bit subgroup"),
		"ecp192":       notImpl("ECP-192"),
		"ecp224":       notImpl("ECP-224"),
		"ecp224bp":     notImpl("Brainpool ECP-224"),
		"ecp256bp":     notImpl("Brainpool ECP-256"),
		"ecp384bp":     notImpl("Brainpool ECP-384"),
		"ecp512bp":     notImpl("Brainpool ECP-512"),
		"x448":         notImpl("Curve448"),
		"curve448":     notImpl("Curve448"),
		"mlkem768":     {dh: DHMLKEM768},
		"mlkem1024":    {dh: DHMLKEM1024},
		"mlkem512":     notImpl("ML-KEM-512 (Go's crypto/mlkem has only ML-KEM-768 and ML-KEM-1024)"),
		// extended sequence numbers (ESP)
		"esn":   esnKW(ESNOn),
		"noesn": esnKW(ESNOff),
	}
	// AES-GCM with its ICV length in octets or bits: only the 16-octet ICV
	// is implemented.
	for _, bits := range []int{128, 192, 256} {
		b := fmt.Sprint(bits)
		m["aes"+b+"gcm16"] = encrKW(EncrAESGCM16, bits)
		m["aes"+b+"gcm128"] = encrKW(EncrAESGCM16, bits)
		for _, icv := range []string{"8", "12", "64", "96"} {
			m["aes"+b+"gcm"+icv] = notImpl("AES-GCM with a short ICV (only the 16-octet ICV, aes" + b + "gcm16, is)")
		}
		for _, icv := range []string{"8", "12", "16", "64", "96", "128"} {
			m["aes"+b+"ccm"+icv] = notImpl("AES-CCM encryption")
		}
		m["aes"+b+"ctr"] = notImpl("AES-CTR encryption")
		m["camellia"+b] = notImpl("Camellia encryption")
	}
	return m
}()

// ProposalSpec is one proposal as written: its algorithms in the order
// given, each list without duplicates.
type ProposalSpec struct {
	Text  string
	Encr  []EncrAlg
	PRF   []PRFID
	Integ []IntegID
	DH    []DHGroup
	ESN   []ESN
	// AddKE are the keN_<method> keywords: AddKE[n-1] the methods of
	// ADDKEn (transform type 5+n), NONE included, in the order written.
	AddKE [7][]DHGroup
}

// keMethods are the key exchange methods a keN_ keyword may name besides
// the DH groups: ML-KEM (IANA Transform Type 4 IDs 35 to 37) and none.
var keMethods = map[string]DHGroup{"mlkem512": DHMLKEM512, "mlkem768": DHMLKEM768, "mlkem1024": DHMLKEM1024, "none": DHNone}

// parseAddKE reads a keN_<method> keyword: n from 1 to 7 and the method;
// ok is false when tok is not of that form.
func parseAddKE(tok string) (n int, m DHGroup, ok bool, err error) {
	tok = strings.ToLower(tok)
	if len(tok) < 5 || tok[:2] != "ke" || tok[3] != '_' || tok[2] < '1' || tok[2] > '7' {
		return 0, 0, false, nil
	}
	n = int(tok[2] - '0')
	name := tok[4:]
	if m, known := keMethods[name]; known {
		return n, m, true, nil
	}
	kw, known := algKeywords[name]
	if !known || kw.dh == 0 {
		return n, 0, true, fmt.Errorf("algorithm keyword %q: %q is not a key exchange method", tok, name)
	}
	return n, kw.dh, true, nil
}

// ParseProposalSpecs parses a comma-separated list of strongSwan proposals
// for protocol (ProtocolIKE or ProtocolESP). The keyword "default" stands
// for oemesh's default policy of that protocol. Errors name the proposal
// and the keyword at fault.
func ParseProposalSpecs(protocol ProtocolID, s string) ([]ProposalSpec, error) {
	if protocol != ProtocolIKE && protocol != ProtocolESP {
		return nil, fmt.Errorf("ike: proposals for %v: only IKE and ESP proposals are parsed", protocol)
	}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("ike: %v proposals: empty list", protocol)
	}
	var out []ProposalSpec
	for i, text := range strings.Split(s, ",") {
		text = strings.TrimSpace(text)
		spec, err := parseProposalSpec(protocol, text)
		if err != nil {
			return nil, fmt.Errorf("ike: %v proposal %d %q: %w", protocol, i+1, text, err)
		}
		out = append(out, spec)
	}
	return out, nil
}

func parseProposalSpec(protocol ProtocolID, text string) (ProposalSpec, error) {
	spec := ProposalSpec{Text: text}
	if text == "" {
		return spec, fmt.Errorf("empty proposal")
	}
	if strings.ToLower(text) == "default" {
		var p Policy
		if protocol == ProtocolIKE {
			p = DefaultIKEPolicy()
		} else {
			p = DefaultESPPolicy()
		}
		spec.Encr, spec.PRF, spec.Integ, spec.DH, spec.ESN = p.Encr, p.PRF, p.Integ, p.DH, p.ESN
		return spec, nil
	}
	for _, tok := range strings.Split(text, "-") {
		if n, m, ok, err := parseAddKE(tok); ok {
			if err != nil {
				return spec, err
			}
			spec.AddKE[n-1] = appendNew(spec.AddKE[n-1], m)
			continue
		}
		kw, ok := algKeywords[strings.ToLower(tok)]
		switch {
		case tok == "":
			return spec, fmt.Errorf("empty algorithm keyword (doubled or trailing '-')")
		case !ok:
			return spec, fmt.Errorf("unknown algorithm keyword %q", tok)
		case kw.unimplemented != "":
			return spec, fmt.Errorf("algorithm keyword %q: %s is not implemented by oemesh", tok, kw.unimplemented)
		case kw.encr != nil:
			spec.Encr = appendNew(spec.Encr, *kw.encr)
		case kw.prf != 0:
			if protocol != ProtocolIKE {
				return spec, fmt.Errorf("algorithm keyword %q: a PRF belongs in IKE proposals only", tok)
			}
			spec.PRF = appendNew(spec.PRF, kw.prf)
		case kw.integ != 0:
			spec.Integ = appendNew(spec.Integ, kw.integ)
		case kw.dh != 0:
			spec.DH = appendNew(spec.DH, kw.dh)
		case kw.esn != nil:
			if protocol == ProtocolIKE {
				return spec, fmt.Errorf("algorithm keyword %q: ESN belongs in ESP proposals only", tok)
			}
			spec.ESN = appendNew(spec.ESN, *kw.esn)
		}
	}
	if len(spec.Encr) == 0 {
		return spec, fmt.Errorf("no encryption algorithm")
	}
	aead, plain := false, false
	for _, e := range spec.Encr {
		if e.ID.AEAD() {
			aead = true
		} else {
			plain = true
		}
	}
	if plain && len(spec.Integ) == 0 {
		return spec, fmt.Errorf("%v needs an integrity algorithm (e.g. sha256)", firstPlain(spec.Encr))
	}
	if aead && !plain && len(spec.Integ) > 0 {
		return spec, fmt.Errorf("integrity algorithm %v with only combined-mode ciphers: an AEAD takes none", spec.Integ[0])
	}
	if protocol == ProtocolIKE {
		if len(spec.PRF) == 0 {
			// As strongSwan does: without a PRF keyword, use the PRFs
			// that match the integrity algorithms.
			for _, i := range spec.Integ {
				spec.PRF = appendNew(spec.PRF, prfForInteg(i))
			}
		}
		if len(spec.PRF) == 0 {
			return spec, fmt.Errorf("no PRF: a proposal with only AEAD ciphers needs one (e.g. prfsha256)")
		}
		if len(spec.DH) == 0 {
			return spec, fmt.Errorf("no key exchange method (e.g. x25519)")
		}
	}
	return spec, nil
}

func prfForInteg(i IntegID) PRFID {
	switch i {
	case IntegHMACSHA2_384_192:
		return PRFHMACSHA2_384
	case IntegHMACSHA2_512_256:
		return PRFHMACSHA2_512
	}
	return PRFHMACSHA2_256
}

func firstPlain(es []EncrAlg) EncrAlg {
	for _, e := range es {
		if !e.ID.AEAD() {
			return e
		}
	}
	return EncrAlg{}
}

func appendNew[T comparable](xs []T, x T) []T {
	for _, y := range xs {
		if y == x {
			return xs
		}
	}
	return append(xs, x)
}

// ParseProposals parses a comma-separated list of strongSwan proposals
// into one Policy for protocol: the union of the proposals' algorithms in
// order of first appearance. A single proposal (the usual case for the
// probe) maps exactly; a list offers every combination of its algorithms
// that keeps AEAD and non-AEAD ciphers apart, which is a superset of what
// strongSwan would offer for the same list. For ESP, a DH keyword asks for
// PFS, and no ESN keyword means no ESN, as in strongSwan.
func ParseProposals(protocol ProtocolID, s string) (Policy, error) {
	specs, err := ParseProposalSpecs(protocol, s)
	if err != nil {
		return Policy{}, err
	}
	return validated(protocol, s, union(protocol, specs))
}

// ParseOffer parses proposals as an initiator that probes a peer offers
// them: one proposal per spec, in the order written (a spec that mixes
// AEAD and other ciphers becomes two, as RFC 5282 asks), each with its
// keN_ transforms as written, ML-KEM included. The Policy is the union of
// the specs with, of those transforms, only the additional exchanges we
// can run: NONE and the implemented methods (in IKE_INTERMEDIATE
// exchanges for a new IKE SA, in IKE_FOLLOWUP_KE for CREATE_CHILD_SA).
// It is what the
// peer's choice is checked against. Set both in InitiateOptions (IKE and
// IKEOffer); a peer that picks an exchange we cannot run then fails the
// initiation with an error that says so (checkAddKEChoice, Select).
func ParseOffer(protocol ProtocolID, s string) (Policy, []Proposal, error) {
	specs, err := ParseProposalSpecs(protocol, s)
	if err != nil {
		return Policy{}, nil, err
	}
	p := union(protocol, specs)
	for i, ms := range p.AddKE {
		p.AddKE[i] = nil
		for _, m := range ms {
			if m == DHNone || m.Supported() {
				p.AddKE[i] = append(p.AddKE[i], m)
			}
		}
		// A spec without ADDKEn lets the peer leave it out: NONE.
		for _, sp := range specs {
			if len(sp.AddKE[i]) == 0 && len(p.AddKE[i]) > 0 && !slices.Contains(p.AddKE[i], DHNone) {
				p.AddKE[i] = append(p.AddKE[i], DHNone)
			}
		}
	}
	if p, err = validated(protocol, s, p); err != nil {
		return Policy{}, nil, err
	}
	var offer []Proposal
	for _, sp := range specs {
		one := Policy{Protocol: protocol, Encr: sp.Encr, PRF: sp.PRF, Integ: sp.Integ, DH: sp.DH, ESN: sp.ESN, AddKE: sp.AddKE}
		if protocol == ProtocolESP && len(one.ESN) == 0 {
			one.ESN = []ESN{ESNOff}
		}
		for _, prop := range one.Proposals(nil, DHNone) {
			prop.Number = uint8(len(offer) + 1)
			offer = append(offer, prop)
		}
	}
	return p, offer, nil
}

// union is the union of specs as one Policy. For IKE, a spec without any
// keN_ keyword beside specs with some is a classical alternative: the policy
// then accepts NONE for each additional exchange and offers the classical
// proposals after the others (Policy.OfferClassical), so that peers
// without RFC 9370, which refuse any proposal carrying an ADDKE
// transform, can still choose it.
func union(protocol ProtocolID, specs []ProposalSpec) Policy {
	p := Policy{Protocol: protocol}
	classical := false
	for _, sp := range specs {
		if noAddKE(sp.AddKE) {
			classical = true
		}
		for _, e := range sp.Encr {
			p.Encr = appendNew(p.Encr, e)
		}
		for _, f := range sp.PRF {
			p.PRF = appendNew(p.PRF, f)
		}
		for _, i := range sp.Integ {
			p.Integ = appendNew(p.Integ, i)
		}
		for _, g := range sp.DH {
			p.DH = appendNew(p.DH, g)
		}
		for _, e := range sp.ESN {
			p.ESN = appendNew(p.ESN, e)
		}
		for i, ms := range sp.AddKE {
			for _, m := range ms {
				p.AddKE[i] = appendNew(p.AddKE[i], m)
			}
		}
	}
	if protocol == ProtocolESP && len(p.ESN) == 0 {
		p.ESN = []ESN{ESNOff}
	}
	if protocol == ProtocolIKE && classical && !noAddKE(p.AddKE) {
		for i, ms := range p.AddKE {
			if len(ms) > 0 {
				p.AddKE[i] = appendNew(ms, DHNone)
			}
		}
		p.OfferClassical = true
	}
	return p
}

// validated returns p when it is a usable policy, or why not, naming s.
func validated(protocol ProtocolID, s string, p Policy) (Policy, error) {
	if err := p.Validate(); err != nil {
		return Policy{}, fmt.Errorf("ike: %v proposals %q: %w", protocol, s, err)
	}
	return p, nil
}

// noAddKE reports whether lists name no additional key exchange at all.
func noAddKE(lists [7][]DHGroup) bool {
	for _, ms := range lists {
		if len(ms) > 0 {
			return false
		}
	}
	return true
}
