package ipsecconf

import (
	"fmt"
	"strconv"
	"strings"
)

// Revocation settings. oemesh checks revocation with CRLs from files
// (certs.crls in oemesh.yaml, a conn's crl:) and OCSP (a conn's ocsp:, or
// certs.ocsp): off, soft (an unreachable responder or "unknown" is
// accepted) or hard (refused). What the two ipsec.conf dialects say about
// revocation maps onto that as follows:
//   - Libreswan's config setup ocsp-enable=yes gives every conn with a
//     certificate ocsp: soft, and with ocsp-strict=yes ocsp: hard, which
//     is what Libreswan does with them; ocsp-enable=no is oemesh's
//     default;
//   - strictcrlpolicy=no (both) is oemesh's behaviour; yes (and
//     strongSwan's ifuri) has no equivalent: oemesh accepts a certificate
//     no current CRL covers;
//   - crlcheckinterval (both), and strongSwan's ca sections' crluri and
//     ocspuri, are about fetching: oemesh fetches no CRL, and asks the
//     OCSP responder a certificate names, no other;
//   - Libreswan's other ocsp-* keys are either global settings of
//     oemesh.yaml (ocsp-timeout: certs.ocsp_timeout) or have no
//     equivalent.
// strongSwan's swanctl.conf revocation= is not in an ipsec.conf, so not
// in the import's scope.

// revocationSetup collects config setup's OCSP keys, to apply to the
// cert conns once they are converted.
type revocationSetup struct {
	enable, strict *Setting
}

// take handles a config setup setting about revocation: it reports
// whether st was one, and a Problem when it cannot be carried over.
func (r *revocationSetup) take(st Setting) (handled bool, prob *Problem, err error) {
	drop := func(why string) (bool, *Problem, error) {
		return true, &Problem{File: st.File, Line: st.Line, Key: "config setup " + st.Key, Why: why}, nil
	}
	switch st.Key {
	case "ocsp-enable", "ocsp-strict":
		if _, err := yesNo(st.Value); err != nil {
			return true, nil, fmt.Errorf("%s:%d: %s: %w", st.File, st.Line, st.Key, err)
		}
		if st.Key == "ocsp-enable" {
			r.enable = &st
		} else {
			r.strict = &st
		}
		return true, nil, nil
	case "strictcrlpolicy":
		if b, err := yesNo(st.Value); err == nil && !b {
			return true, nil, nil // oemesh's behaviour
		}
		return drop("oemesh has no strict CRL policy: a certificate that no current CRL covers is accepted (OCSP hard refuses one whose status is unknown)")
	case "crlcheckinterval":
		return drop("oemesh fetches no CRLs: download them, list the files in certs.crls (oemesh.yaml) or a conn's crl:, and send oemeshd a SIGHUP when they are renewed")
	case "ocsp-timeout":
		return drop("set certs.ocsp_timeout: " + st.Value + "s in oemesh.yaml")
	case "ocsp-uri":
		return drop("oemesh asks the OCSP responder each certificate names (authorityInfoAccess), no other")
	case "ocsp-trustname":
		return drop("a delegated responder's certificate must be issued by the CA it answers for; no other is trusted")
	case "ocsp-cache-size", "ocsp-cache-min-age", "ocsp-cache-max-age":
		return drop("oemesh caches OCSP responses until their NextUpdate (an hour without one), 1024 at most")
	case "ocsp-method":
		return drop("oemesh asks by POST")
	}
	return false, nil, nil
}

// mode is the OCSP mode config setup asks for: "" (oemesh's default,
// off), soft or hard.
func (r *revocationSetup) mode() string {
	on := func(s *Setting) bool {
		if s == nil {
			return false
		}
		b, _ := yesNo(s.Value) // checked by take
		return b
	}
	switch {
	case !on(r.enable):
		return ""
	case on(r.strict):
		return "hard"
	}
	return "soft"
}

// apply gives the cert conns among conns the OCSP mode of config setup,
// and returns what could not be carried over.
func (r *revocationSetup) apply(conns []Conn) []Problem {
	var probs []Problem
	mode := r.mode()
	if r.strict != nil && mode == "" {
		b, _ := yesNo(r.strict.Value)
		if b {
			probs = append(probs, Problem{File: r.strict.File, Line: r.strict.Line, Key: "config setup ocsp-strict",
				Why: "has no effect without ocsp-enable=yes, in Libreswan and here"})
		}
	}
	if mode == "" {
		return probs
	}
	from := "ocsp-enable=yes (" + r.enable.File + ":" + strconv.Itoa(r.enable.Line) + ")"
	if mode == "hard" {
		from = strings.TrimSuffix(from, ")") + ", ocsp-strict=yes line " + strconv.Itoa(r.strict.Line) + ")"
	}
	applied := 0
	for i := range conns {
		if conns[i].Auth != "cert" {
			continue
		}
		conns[i].OCSP = mode
		conns[i].Notes = append(conns[i].Notes, "ocsp: "+mode+" from config setup "+from)
		applied++
	}
	if applied == 0 {
		probs = append(probs, Problem{File: r.enable.File, Line: r.enable.Line, Key: "config setup ocsp-enable",
			Why: "no conn of this file uses certificates; for conns added later set certs.ocsp: " + mode + " in oemesh.yaml"})
	}
	return probs
}

// caSectionProblems are the settings of a strongSwan ca section, each
// with what to do instead: oemesh has no ca sections, but a conn's ca:
// and crl: and certs.crls carry what they hold.
func caSectionProblems(file string, s *Section) []Problem {
	var out []Problem
	for _, st := range s.Settings {
		why := "no oemesh equivalent"
		switch {
		case st.Key == "cacert":
			why = "give the file as the ca: of the cert conns whose peers it issues"
		case strings.HasPrefix(st.Key, "crluri"):
			why = "oemesh fetches no CRLs: download it, list the file in certs.crls (oemesh.yaml) or a conn's crl:, and send oemeshd a SIGHUP when it is renewed"
		case strings.HasPrefix(st.Key, "ocspuri"):
			why = "oemesh asks the OCSP responder each certificate names (authorityInfoAccess), no other; turn OCSP on with a conn's ocsp: or certs.ocsp"
		case st.Key == "auto":
			why = "CAs are loaded with the conns that name them"
		}
		out = append(out, Problem{File: file, Line: st.Line, Conn: "", Key: "ca " + s.Name + " " + st.Key, Why: why})
	}
	return out
}
