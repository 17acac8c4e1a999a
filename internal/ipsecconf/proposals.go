package ipsecconf

import (
	"fmt"
	"slices"
	"strings"
)

// This file converts Libreswan's algorithm proposals (ike= and esp=) into
// strongSwan's syntax, which oemeshd's conns take (ike: and esp:).
//
// Libreswan writes a proposal as ENCR[-INTEG][-PRF][-KE] or with the key
// exchange after a ';': ENCR-INTEG;KE. Alternatives of one transform type
// are joined by '+' (aes_gcm256+aes_gcm128), proposals by ','. Libreswan
// 5.4 added RFC 9370's additional key exchanges: after the first ';',
// addke1= to addke7= (and kem= for the main one, prf= for the PRF) each
// name their methods, "none" among them making that exchange optional, as
// in "aes256-sha2;dh19;addke1=ml_kem_768+none". A bare list of methods
// after the ';' ("aes;dh19-ml_kem_768") gives the main one first and then
// ADDKE1, ADDKE2 and on.
//
// strongSwan writes the same proposal as one '-'-joined list of keywords,
// alternatives simply repeated: "aes256-sha256-ecp256-ke1_mlkem768-ke1_none".
// Whether oemesh can run what the result names is decided where conns are
// loaded (ike.ParseProposals): this file only translates, and it warns
// about ML-KEM-512, which oemesh cannot do at all.

// proposalKind is which of ike= and esp= a value is.
type proposalKind int

const (
	ikeProposals proposalKind = iota
	espProposals
)

func (k proposalKind) String() string {
	if k == ikeProposals {
		return "ike"
	}
	return "esp"
}

// lsEncr maps Libreswan's encryption names to strongSwan keywords. Without
// a key length, Libreswan offers AES with 256 and then 128 bits.
var lsEncr = func() map[string][]string {
	m := map[string][]string{
		"3des":              {"3des"},
		"null":              {"null"},
		"chacha20_poly1305": {"chacha20poly1305"},
		"chacha20poly1305":  {"chacha20poly1305"},
		"camellia":          {"camellia256", "camellia128"},
		"camellia_cbc":      {"camellia256", "camellia128"},
	}
	families := []struct {
		names []string
		kw    func(bits string) string
	}{
		{[]string{"aes", "aes_cbc"}, func(b string) string { return "aes" + b }},
		{[]string{"aes_gcm", "aes_gcm_16", "aes_gcm_c"}, func(b string) string { return "aes" + b + "gcm16" }},
		{[]string{"aes_gcm_12", "aes_gcm_b"}, func(b string) string { return "aes" + b + "gcm12" }},
		{[]string{"aes_gcm_8", "aes_gcm_a"}, func(b string) string { return "aes" + b + "gcm8" }},
		{[]string{"aes_ccm", "aes_ccm_16", "aes_ccm_c"}, func(b string) string { return "aes" + b + "ccm16" }},
		{[]string{"aes_ctr"}, func(b string) string { return "aes" + b + "ctr" }},
	}
	for _, f := range families {
		for _, n := range f.names {
			m[n] = []string{f.kw("256"), f.kw("128")}
			for _, b := range []string{"128", "192", "256"} {
				m[n+b] = []string{f.kw(b)}
				m[n+"_"+b] = []string{f.kw(b)}
			}
		}
	}
	return m
}()

// lsHash maps Libreswan's integrity and PRF names to strongSwan's
// integrity keyword (its PRF keyword is "prf" and the same word).
var lsHash = map[string]string{
	"sha": "sha1", "sha1": "sha1", "sha1_96": "sha1",
	"sha2": "sha256", "sha2_256": "sha256", "sha256": "sha256",
	"sha2_384": "sha384", "sha384": "sha384",
	"sha2_512": "sha512", "sha512": "sha512",
	"md5": "md5", "aes_xcbc": "aesxcbc", "aes_cmac": "aescmac",
}

// lsKE maps Libreswan's key exchange method names to strongSwan keywords;
// "none" maps to "none".
var lsKE = map[string]string{
	"none":     "none",
	"modp1024": "modp1024", "dh2": "modp1024",
	"modp1536": "modp1536", "dh5": "modp1536",
	"modp2048": "modp2048", "dh14": "modp2048",
	"modp3072": "modp3072", "dh15": "modp3072",
	"modp4096": "modp4096", "dh16": "modp4096",
	"modp6144": "modp6144", "dh17": "modp6144",
	"modp8192": "modp8192", "dh18": "modp8192",
	"ecp_256": "ecp256", "ecp256": "ecp256", "dh19": "ecp256",
	"ecp_384": "ecp384", "ecp384": "ecp384", "dh20": "ecp384",
	"ecp_521": "ecp521", "ecp521": "ecp521", "dh21": "ecp521",
	"dh22": "modp1024s160", "dh23": "modp2048s224", "dh24": "modp2048s256",
	"curve25519": "x25519", "x25519": "x25519", "dh31": "x25519",
	"ml_kem_512": "mlkem512", "mlkem512": "mlkem512",
	"ml_kem_768": "mlkem768", "mlkem768": "mlkem768",
	"ml_kem_1024": "mlkem1024", "mlkem1024": "mlkem1024",
}

// mlkem512 is why ML-KEM-512 is dropped from a converted proposal.
const mlkem512 = "ML-KEM-512 is not implemented by oemesh (Go's crypto/mlkem has only ML-KEM-768 and ML-KEM-1024)"

// lsProposal is one Libreswan proposal, in strongSwan keywords.
type lsProposal struct {
	encr, integ, prf []string
	ke               [8][]string // ke[0] the main exchange, ke[n] ADDKEn
}

// Libreswan's defaults for what a proposal leaves out, which strongSwan's
// syntax must spell: integrity (and, for an AEAD in IKE, the PRF)
// sha2_512+sha2_256, and for IKE the key exchange methods.
var (
	lsDefaultInteg = []string{"sha512", "sha256"}
	lsDefaultPRF   = []string{"sha512", "sha256"}
	lsDefaultKE    = []string{"ecp256", "ecp384", "ecp521", "x25519", "modp4096", "modp3072", "modp2048"}
)

// convertProposals converts a Libreswan ike= or esp= value into
// strongSwan's syntax. warnings are what was dropped (ML-KEM-512), notes
// the defaults written out; err names the proposal and the word at fault.
func convertProposals(kind proposalKind, v string) (out string, warnings, notes []string, err error) {
	var outs []string
	for i, text := range strings.Split(v, ",") {
		text = strings.TrimSpace(text)
		p, err := parseLSProposal(kind, strings.ToLower(text))
		if err != nil {
			return "", nil, nil, fmt.Errorf("proposal %d %q: %w", i+1, text, err)
		}
		if kind == ikeProposals && slices.Contains(p.ke[0], "none") {
			return "", nil, nil, fmt.Errorf("proposal %d %q: key exchange none: IKE needs one (none means no PFS, in esp=)", i+1, text)
		}
		p.fillDefaults(kind, func(what string, kws []string) {
			notes = append(notes, fmt.Sprintf("%s= proposal %d %q names no %s: Libreswan's default %s is written out", kind, i+1, text, what, strings.Join(kws, "-")))
		})
		for n, ms := range p.ke {
			if !slices.Contains(ms, "mlkem512") {
				continue
			}
			p.ke[n] = slices.DeleteFunc(ms, func(m string) bool { return m == "mlkem512" })
			what := "as the key exchange"
			if n > 0 {
				what = fmt.Sprintf("as ADDKE%d", n)
			}
			w := fmt.Sprintf("proposal %d %q: ml_kem_512 %s is dropped: %s", i+1, text, what, mlkem512)
			if len(p.ke[n]) == 0 && n > 0 {
				w += fmt.Sprintf("; it was the only method of ADDKE%d, so the conn negotiates without that additional key exchange", n)
			}
			warnings = append(warnings, w)
		}
		if kind == ikeProposals && len(p.ke[0]) == 0 {
			return "", nil, nil, fmt.Errorf("proposal %d %q: no key exchange method oemesh can do", i+1, text)
		}
		outs = append(outs, p.strongSwan())
	}
	return strings.Join(outs, ","), warnings, notes, nil
}

// fillDefaults writes out Libreswan's defaults where p leaves a transform
// out that strongSwan's syntax needs, telling note what it wrote.
func (p *lsProposal) fillDefaults(kind proposalKind, note func(what string, kws []string)) {
	if !p.aead() && len(p.integ) == 0 {
		p.integ = slices.Clone(lsDefaultInteg)
		note("integrity algorithm", p.integ)
	}
	if kind != ikeProposals {
		return
	}
	if p.aead() && len(p.prf) == 0 {
		p.prf = slices.Clone(lsDefaultPRF)
		note("PRF", prfKeywords(p.prf))
	}
	if len(p.ke[0]) == 0 {
		p.ke[0] = slices.Clone(lsDefaultKE)
		note("key exchange method", p.ke[0])
	}
}

// aead reports whether p's ciphers are combined-mode (they take no
// integrity algorithm).
func (p *lsProposal) aead() bool {
	e := p.encr[0]
	return strings.Contains(e, "gcm") || strings.Contains(e, "ccm") || e == "chacha20poly1305"
}

func prfKeywords(hs []string) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = "prf" + h
	}
	return out
}

// strongSwan writes p as one strongSwan proposal.
func (p lsProposal) strongSwan() string {
	kws := slices.Concat(p.encr, p.integ, prfKeywords(p.prf))
	for _, m := range p.ke[0] {
		if m != "none" { // ESP: none is "no PFS", which strongSwan writes by leaving it out
			kws = append(kws, m)
		}
	}
	for n := 1; n < len(p.ke); n++ {
		for _, m := range p.ke[n] {
			kws = append(kws, fmt.Sprintf("ke%d_%s", n, m))
		}
	}
	return strings.Join(kws, "-")
}

func parseLSProposal(kind proposalKind, text string) (lsProposal, error) {
	var p lsProposal
	if text == "" {
		return p, fmt.Errorf("empty proposal")
	}
	segs := strings.Split(text, ";")
	words := strings.Split(segs[0], "-")
	// ENCR, with an optional key length as a word of its own (aes-128).
	encr, err := alternatives(words[0], "encryption algorithm", func(w string) ([]string, bool) { e, ok := lsEncr[w]; return e, ok })
	if err != nil {
		return p, err
	}
	words = words[1:]
	if len(words) > 0 && isDigits(words[0]) {
		bits := words[0]
		words = words[1:]
		for i, e := range encr {
			if !strings.HasPrefix(e, "aes") {
				return p, fmt.Errorf("key length %s: only AES takes one", bits)
			}
			encr[i] = "aes" + bits + strings.TrimLeft(strings.TrimPrefix(e, "aes"), "0123456789")
		}
		if bits != "128" && bits != "192" && bits != "256" {
			return p, fmt.Errorf("key length %s: AES has 128, 192 or 256 bits", bits)
		}
		encr = dedup(encr)
	}
	p.encr = encr
	// Then integrity and PRF words, then key exchange methods.
	var hashes [][]string
	var kes [][]string
	for _, w := range words {
		if w == "" {
			return p, fmt.Errorf("empty algorithm (doubled or trailing '-')")
		}
		first, _, _ := strings.Cut(w, "+")
		_, isHash := lsHash[first]
		noInteg := (first == "none" || first == "null") && len(hashes) == 0
		if (isHash || noInteg) && len(kes) == 0 {
			h, err := alternatives(w, "integrity or PRF algorithm", hashAlt)
			if err != nil {
				return p, err
			}
			hashes = append(hashes, h)
			continue
		}
		ke, err := alternatives(w, "key exchange method", keAlt)
		if err != nil {
			return p, err
		}
		kes = append(kes, ke)
	}
	if len(kes) > 1 {
		return p, fmt.Errorf("%d key exchange methods after the algorithms: write additional ones after a ';' (addke1=)", len(kes))
	}
	if err := p.setHashes(kind, p.aead(), hashes); err != nil {
		return p, err
	}
	if len(kes) == 1 {
		p.ke[0] = kes[0]
	}
	for _, seg := range segs[1:] {
		if err := p.setSegment(kind, seg); err != nil {
			return p, err
		}
	}
	return p, p.check()
}

// check refuses what neither Libreswan nor strongSwan take: AEAD and
// other ciphers in one proposal, an AEAD with an integrity algorithm, and
// none where an algorithm is needed.
func (p *lsProposal) check() error {
	for _, e := range p.encr[1:] {
		if (&lsProposal{encr: []string{e}}).aead() != p.aead() {
			return fmt.Errorf("combined-mode (AEAD) and other ciphers in one proposal: write them as two proposals")
		}
	}
	if p.aead() {
		p.integ = slices.DeleteFunc(p.integ, func(h string) bool { return h == "none" })
		if len(p.integ) > 0 {
			return fmt.Errorf("an AEAD cipher takes no integrity algorithm")
		}
	}
	if slices.Contains(p.integ, "none") {
		return fmt.Errorf("integrity none: only an AEAD cipher goes without one")
	}
	if slices.Contains(p.prf, "none") {
		return fmt.Errorf("PRF none: IKE needs a PRF")
	}
	return nil
}

// setHashes places the integrity and PRF words: for an AEAD the one word
// is the PRF ("none" may stand for the integrity first), otherwise the
// first is the integrity and the second the PRF.
func (p *lsProposal) setHashes(kind proposalKind, aead bool, hashes [][]string) error {
	if len(hashes) > 2 || (kind == espProposals && len(hashes) > 1) {
		return fmt.Errorf("too many integrity and PRF algorithms (%d)", len(hashes))
	}
	if aead {
		if len(hashes) > 0 && slices.Contains(hashes[0], "none") {
			hashes = hashes[1:]
		} else if len(hashes) == 2 {
			return fmt.Errorf("an AEAD cipher takes no integrity algorithm (write none)")
		}
		if len(hashes) > 0 && kind == espProposals {
			return fmt.Errorf("an AEAD cipher takes no integrity algorithm")
		}
		if len(hashes) > 0 {
			p.prf = hashes[0]
		}
		return nil
	}
	for _, h := range hashes {
		if slices.Contains(h, "none") {
			return fmt.Errorf("integrity none: only an AEAD cipher goes without one")
		}
	}
	if len(hashes) > 0 {
		p.integ = hashes[0]
	}
	if len(hashes) > 1 {
		p.prf = hashes[1]
	}
	return nil
}

// setSegment reads one ';' part: key=value, or a '-'-joined list of key
// exchange methods (the main one first unless already given).
func (p *lsProposal) setSegment(kind proposalKind, seg string) error {
	if seg == "" {
		return fmt.Errorf("empty algorithm (doubled or trailing ';')")
	}
	key, val, ok := strings.Cut(seg, "=")
	if !ok {
		n := 0
		if len(p.ke[0]) > 0 {
			n = p.lastKE() + 1
		}
		for _, w := range strings.Split(seg, "-") {
			if n >= len(p.ke) {
				return fmt.Errorf("%q: more than seven additional key exchanges", seg)
			}
			ms, err := alternatives(w, "key exchange method", keAlt)
			if err != nil {
				return err
			}
			p.ke[n] = ms
			n++
		}
		return nil
	}
	switch {
	case key == "kem" || key == "dh":
		ms, err := alternatives(val, "key exchange method", keAlt)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		p.ke[0] = ms
	case len(key) == 6 && strings.HasPrefix(key, "addke") && key[5] >= '1' && key[5] <= '7':
		ms, err := alternatives(val, "key exchange method", keAlt)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		p.ke[key[5]-'0'] = ms
	case key == "prf" && kind == ikeProposals:
		h, err := alternatives(val, "PRF", hashAlt)
		if err != nil {
			return fmt.Errorf("prf: %w", err)
		}
		p.prf = h
	case key == "integ":
		h, err := alternatives(val, "integrity algorithm", hashAlt)
		if err != nil {
			return fmt.Errorf("integ: %w", err)
		}
		p.integ = h
	default:
		return fmt.Errorf("%q: unknown setting (want addke1= to addke7=, kem=, prf= or integ=)", key)
	}
	return nil
}

// lastKE is the highest exchange set so far (0: the main one).
func (p *lsProposal) lastKE() int {
	last := 0
	for n, ms := range p.ke {
		if len(ms) > 0 {
			last = n
		}
	}
	return last
}

// alternatives reads one '+'-joined word: each alternative through look,
// duplicates dropped, an unknown one an error naming it as what.
func alternatives(w, what string, look func(string) ([]string, bool)) ([]string, error) {
	var out []string
	for _, a := range strings.Split(w, "+") {
		if a == "" {
			return nil, fmt.Errorf("empty %s (doubled or trailing '+')", what)
		}
		kws, ok := look(a)
		if !ok {
			return nil, fmt.Errorf("unknown %s %q", what, a)
		}
		for _, k := range kws {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out, nil
}

func hashAlt(w string) ([]string, bool) {
	if w == "none" || w == "null" {
		return []string{"none"}, true
	}
	h, ok := lsHash[w]
	return []string{h}, ok
}

func keAlt(w string) ([]string, bool) {
	k, ok := lsKE[w]
	return []string{k}, ok
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func dedup(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
