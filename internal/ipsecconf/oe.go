package ipsecconf

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Opportunistic encryption in ipsec.conf, and how it becomes oemesh's oe.*
// settings.
//
// Libreswan (and FreeS/WAN 2.x before it) configures OE with one conn per
// policy group: a conn whose peer is %opportunisticgroup, %group or
// %opportunistic, named after the file in /etc/ipsec.d/policies whose
// prefixes it serves (clear, clear-or-private, private-or-clear, private,
// block). oemesh has the same five groups, read from the same directory
// (policies:), with their behaviour built in: private-or-clear fails to
// clear, private fails closed, block drops, clear passes. So an OE conn
// becomes:
//
//   - the group it serves (OESettings.Groups), checked against the
//     group's built-in behaviour: a type=, failureshunt= or
//     negotiationshunt= that oemesh's group does not have is listed as not
//     carried over;
//   - oe.null_auth from its authentication: NULL on both sides (authby=null,
//     leftauth=null with rightauth=null, %null IDs) is only; NULL for us
//     and the peer's key from DNS (rightrsasigkey=%dnsondemand) is
//     fallback; a server that signs and accepts NULL (rightauth=null) is
//     fallback;
//   - oe.negotiation_shunt from private-or-clear's negotiationshunt=,
//     oe.negotiation_timeout from its retransmit-timeout=;
//   - oe.address_pool from leftaddresspool=/rightaddresspool=,
//     oe.cert/oe.cert_key from leftcert= (a certificate OE server),
//     oe.trust_certificates webpki from rightca=%any with rightid=%fromcert
//     (a certificate OE client).
//
// FreeS/WAN 2.x's implicit conns (conn private-or-clear with
// right=%opportunisticgroup and left=%defaultroute, and its older
// packetdefault conn with right=%opportunistic) map the same way.

// OESettings is what an ipsec.conf's OE conns say, as oemesh.yaml's oe.*
// keys (empty: the key is not written, its default holds).
type OESettings struct {
	NullAuth           string // fallback, off or only
	NegotiationShunt   string // hold or pass
	NegotiationTimeout string
	IKELifetime        string
	ChildLifetime      string
	TrustCertificates  string // webpki
	Cert, CertKey      string
	CertAnswer         string
	AddressPool        []string
	// Groups are the policy groups the OE conns serve, in file order.
	Groups []OEGroup
	// Notes are remarks written as comments above oe:.
	Notes []string
}

// OEGroup is a policy group an OE conn serves.
type OEGroup struct {
	Group string // clear, clear-or-private, private-or-clear, private or block
	Conn  string
	File  string
	Line  int
}

// oeGroups are oemesh's policy groups, with what their conn's type= and
// failureshunt= must be for Libreswan to behave as oemesh's group does
// ("" for failureshunt: the conn never initiates, so any value).
var oeGroups = map[string]struct{ types, failure []string }{
	"clear":            {types: []string{"passthrough", "pass"}},
	"block":            {types: []string{"reject", "drop"}},
	"clear-or-private": {types: []string{"tunnel"}},
	"private-or-clear": {types: []string{"tunnel"}, failure: []string{"passthrough", "pass", "none"}},
	"private":          {types: []string{"tunnel"}, failure: []string{"drop", "reject", "hold"}},
	// FreeS/WAN 2.x's packetdefault is private-or-clear for 0.0.0.0/0.
	"packetdefault": {types: []string{"tunnel"}, failure: []string{"passthrough", "pass", "none"}},
}

// oeNegotiationKeys are the keys about negotiating, moot in the clear and
// block groups, which negotiate nothing.
var oeNegotiationKeys = map[string]bool{
	"keyingtries": true, "negotiationshunt": true, "failureshunt": true, "retransmit-timeout": true,
	"ikelifetime": true, "salifetime": true, "keylife": true, "lifetime": true, "rekey": true,
	"ikev2": true, "narrowing": true, "leftrsasigkey": true, "rightrsasigkey": true,
	"leftid": true, "rightid": true, "leftauth": true, "rightauth": true,
}

// isOEConn reports whether a conn's peer (after also= and %default) is an
// opportunistic group.
func isOEConn(m map[string]Setting, peer string) bool {
	st, ok := m[peer]
	if !ok {
		return false
	}
	switch st.Value {
	case "%opportunisticgroup", "%group", "%opportunistic":
		return true
	}
	return false
}

// oeAuth is what one OE conn says about authentication.
type oeAuth struct {
	ours, peers string // null, rsasig, cert or "" (unset)
	peerKeyDNS  bool
}

// convertOEConn reads one OE conn into oe, returning what it cannot carry
// over. me and peer are left or right.
func convertOEConn(s *Section, m map[string]Setting, me, peer string, opts Options, oe *OESettings) []Problem {
	name := s.Name
	var probs []Problem
	unsupported := func(st Setting, why string) {
		probs = append(probs, Problem{File: st.File, Line: st.Line, Conn: name, Key: st.Key + "=" + st.Value, Why: why})
	}
	ordered := make([]Setting, 0, len(m))
	for _, st := range m {
		ordered = append(ordered, st)
	}
	slices.SortFunc(ordered, func(a, b Setting) int { return a.Line - b.Line })

	group := name
	g, known := oeGroups[group]
	if !known {
		probs = append(probs, Problem{File: s.File, Line: s.Line, Key: "conn " + name,
			Why: "an OE conn serves the policy group named like it; oemesh's groups are clear, clear-or-private, private-or-clear, private and block"})
		return probs
	}
	if group == "packetdefault" {
		group = "private-or-clear"
		oe.Notes = append(oe.Notes, fmt.Sprintf("conn packetdefault (%s:%d) is FreeS/WAN's private-or-clear for 0.0.0.0/0: put 0.0.0.0/0 in the private-or-clear policy file", s.File, s.Line))
	}
	typ := "tunnel"
	if st, ok := m["type"]; ok {
		typ = st.Value
		if !slices.Contains(g.types, typ) {
			unsupported(st, fmt.Sprintf("oemesh's %s group is always %s; this conn is not carried over", group, g.types[0]))
			return probs
		}
	}
	var auth oeAuth
	for _, st := range ordered {
		if typ != "tunnel" && oeNegotiationKeys[st.Key] {
			continue // clear and block negotiate nothing: moot (often from %default)
		}
		side, key := "", st.Key
		switch {
		case strings.HasPrefix(key, me):
			side, key = "local", strings.TrimPrefix(key, me)
		case strings.HasPrefix(key, peer):
			side, key = "remote", strings.TrimPrefix(key, peer)
		}
		v := st.Value
		if side != "" {
			switch key {
			case "":
				if side == "remote" || v == "%defaultroute" || v == "%any" {
					continue // the group's prefixes; our address chosen by route
				}
				unsupported(st, "OE uses the address the route to each peer chooses")
			case "id":
				switch {
				case v == "%null" || v == "%any":
				case v == "%fromcert" && side == "remote":
					auth.peers = "cert"
				case v == "%fromcert":
					// our certificate's name: leftcert= below
				case side == "local" && (strings.HasPrefix(v, "@") || isAddr(v)):
					unsupported(st, "OE uses the daemon's identity: set identity: "+strconv.Quote(v)+" in oemesh.yaml")
				default:
					unsupported(st, "OE IDs are the daemon's identity, %null or the peer's certificate")
				}
			case "auth":
				switch v {
				case "null":
					if side == "local" {
						auth.ours = "null"
					} else {
						auth.peers = "null"
					}
				case "rsasig", "rsa", "pubkey", "ecdsa":
					if side == "local" {
						auth.ours = "rsasig"
					} else if auth.peers != "cert" {
						auth.peers = "rsasig"
					}
				default:
					unsupported(st, "OE authenticates with NULL, a key in DNS or a certificate")
				}
			case "rsasigkey", "pubkey":
				switch {
				case side == "remote" && (v == "%dns" || v == "%dnsondemand"):
					auth.peerKeyDNS = true
				case side == "local" && (v == "%dns" || v == "%dnsondemand"):
					// Our key is in DNS too: oemeshd's hostkey,
					// published as `oemesh dns` prints it.
				case v == "%cert":
					if side == "remote" {
						auth.peers = "cert"
					}
				default:
					unsupported(st, "OE peers' keys come from DNS or a certificate")
				}
			case "ckaid":
				oe.Notes = append(oe.Notes, fmt.Sprintf("%s=%s (%s:%d): oemeshd signs with its hostkey (`oemesh newhostkey`, `oemesh showhostkey`)", st.Key, v, st.File, st.Line))
			case "cert":
				if side != "local" {
					unsupported(st, "the peer's certificate comes in IKE")
					continue
				}
				dir := opts.CertDir
				if dir == "" {
					dir = defaultCertDir
				}
				crt, keyf := v, strings.TrimSuffix(v, filepath.Ext(v))+".key"
				if !filepath.IsAbs(v) {
					crt, keyf = filepath.Join(dir, v+".crt"), filepath.Join(dir, v+".key")
				}
				oe.Cert, oe.CertKey, oe.CertAnswer = crt, keyf, "always"
				auth.ours = "cert"
				oe.Notes = append(oe.Notes, fmt.Sprintf("%s=%s (%s:%d): export the certificate with its chain to %s and its key to %s (pk12util -o, then openssl pkcs12); oe.cert_answer always, since Libreswan's certificate OE clients send no CERTREQ", st.Key, v, st.File, st.Line, crt, keyf))
			case "ca":
				if side == "remote" && v == "%any" {
					oe.TrustCertificates = "webpki"
					continue
				}
				unsupported(st, "certificate OE trusts the system's roots (webpki) or oe.trust_ca")
			case "addresspool":
				oe.AddressPool = append(oe.AddressPool, v)
			case "modecfgclient", "cat":
				// We ask for an address from a server that leases
				// one, and use it (CAT): oemeshd does when the server
				// offers; the server side's pool is addresspool.
			case "nexthop":
				if v != "%defaultroute" {
					unsupported(st, "OE follows the routing table")
				}
			default:
				unsupported(st, "no oemesh equivalent for OE")
			}
			continue
		}
		switch st.Key {
		case "type", "ikev2", "narrowing", "sendca", "keyexchange":
			if (st.Key == "ikev2" && (v == "no" || v == "never")) || (st.Key == "keyexchange" && v == "ikev1") {
				unsupported(st, "oemesh speaks IKEv2 only")
			}
		case "authby":
			switch v {
			case "null":
				auth.ours, auth.peers = "null", "null"
			case "never":
				if typ == "tunnel" {
					unsupported(st, "authby=never negotiates nothing: make the group clear or block")
				}
			case "rsasig", "rsa", "rsa-sha2", "ecdsa", "pubkey":
				if auth.ours == "" {
					auth.ours = "rsasig"
				}
				if auth.peers == "" {
					auth.peers = "rsasig"
				}
			default:
				unsupported(st, "OE authenticates with NULL, a key in DNS or a certificate")
			}
		case "auto":
			// The group decides: clear-or-private answers only, the
			// others also trap. auto=ignore switched the group off.
			if v == "ignore" {
				unsupported(st, "oemeshd serves every group whose policy file lists prefixes: empty /etc/ipsec.d/policies/"+group+" instead")
				return probs
			}
		case "negotiationshunt":
			shunt := map[string]string{"hold": "hold", "passthrough": "pass", "pass": "pass", "drop": "hold"}[v]
			switch {
			case shunt == "":
				unsupported(st, "want hold or passthrough")
			case group == "private-or-clear":
				oe.NegotiationShunt = shunt
			case group == "private" && shunt != "hold":
				unsupported(st, "oemesh always holds private's traffic while it negotiates")
			}
		case "failureshunt":
			if len(g.failure) > 0 && !slices.Contains(g.failure, v) {
				why := "oemesh's private-or-clear fails to clear: put prefixes that must fail closed in the private policy file"
				if group == "private" {
					why = "oemesh's private fails closed: put prefixes that may fail to clear in the private-or-clear policy file"
				}
				unsupported(st, why)
			}
		case "keyingtries":
			if v != "1" {
				unsupported(st, "OE makes one attempt per trapped flow, bounded by oe.negotiation_timeout")
			}
		case "retransmit-timeout":
			d, err := ipsecDuration(v)
			if err != nil {
				unsupported(st, err.Error())
				continue
			}
			if group == "private-or-clear" || oe.NegotiationTimeout == "" {
				oe.NegotiationTimeout = d.String()
			}
		case "ikelifetime", "salifetime", "keylife", "lifetime":
			d, err := ipsecDuration(v)
			if err != nil {
				unsupported(st, err.Error())
				continue
			}
			dst := &oe.ChildLifetime
			if st.Key == "ikelifetime" {
				dst = &oe.IKELifetime
			}
			if *dst != "" && *dst != d.String() {
				unsupported(st, "oe.ike_lifetime and oe.child_lifetime hold for all groups; kept "+*dst)
				continue
			}
			*dst = d.String()
		case "rekey":
			if b, err := yesNo(v); err != nil || !b {
				unsupported(st, "OE tunnels are rekeyed while in use and deleted when idle (oe.idle_timeout)")
			}
		default:
			unsupported(st, "no oemesh equivalent for OE")
		}
	}
	if typ == "tunnel" {
		na := ""
		switch {
		case auth.peers == "cert":
			na = "fallback" // certificate OE clients authenticate with NULL
		case auth.ours == "null" && auth.peers == "null":
			na = "only"
		case auth.ours == "null" && auth.peerKeyDNS:
			na = "fallback"
			probs = append(probs, Problem{File: s.File, Line: s.Line, Conn: name, Key: peer + "auth=rsasig with " + me + "auth=null",
				Why: "a peer without a key in DNS that runs OE gets NULL-authenticated OE (oe.null_auth fallback), where Libreswan's conn fails to its failureshunt"})
		case auth.peers == "null":
			na = "fallback" // a server: signs, and accepts NULL initiators
		case auth.ours != "" || auth.peers != "" || auth.peerKeyDNS:
			na = "off"
		}
		switch {
		case na == "":
		case oe.NullAuth == "" || oe.NullAuth == na:
			oe.NullAuth = na
		case oe.NullAuth == "only" || na == "only":
			// One group's conn is NULL only, another's uses keys:
			// fallback serves both.
			oe.NullAuth = "fallback"
		default:
			oe.NullAuth = "fallback"
		}
	}
	oe.Groups = append(oe.Groups, OEGroup{Group: group, Conn: name, File: s.File, Line: s.Line})
	return probs
}
