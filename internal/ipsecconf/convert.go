package ipsecconf

import (
	"encoding/pem"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Options tunes Convert.
type Options struct {
	// Local is the side that is this host: "left" (default) or "right".
	Local string
	// KeyDir is where remote RSA keys given inline (leftrsasigkey=0s...)
	// are to be written as PEM files; the conns name them there.
	KeyDir string
	// Secrets, when set, is the ipsec.secrets the PSK conns will read
	// (its File is written into the conns as psk:).
	Secrets *Secrets
	// CertDir is where the certificate conns' files are to be: a
	// leftcert= that is not an absolute path (Libreswan's NSS nickname,
	// strongSwan's file under ipsec.d/certs) becomes CertDir/<name>.crt
	// and CertDir/<name>.key, and a rightca= CertDir/ca.crt, with a note
	// saying what to put there (certconv.go). Empty: /etc/oemesh/certs.
	CertDir string
}

// Conn is one converted conn, in oemesh's terms (see internal/config).
type Conn struct {
	Name                        string
	Local, Remote               string
	LocalSubnets, RemoteSubnets []string
	LocalID, RemoteID           string
	Auth                        string
	RemoteKey                   string
	PSK                         string
	Cert, Key, CA               string
	OCSP                        string // off, soft or hard; empty: certs.ocsp
	Mode                        string
	IKE, ESP                    string
	IKELifetime, Lifetime       string
	Rekey                       *bool
	KeyingTries                 *int
	DPDInterval, DPDAction      string
	Auto                        string
	UniqueIDs                   *bool
	CopyDSCP                    *bool
	Updown                      string
	// Notes are remarks written as comments above the conn.
	Notes []string
}

// Problem is a setting that could not be converted, with its line.
type Problem struct {
	File string
	Line int
	Conn string
	Key  string
	Why  string
}

func (p Problem) String() string {
	where := p.File + ":" + strconv.Itoa(p.Line)
	if p.Conn != "" {
		return fmt.Sprintf("%s: conn %s: %s: %s", where, p.Conn, p.Key, p.Why)
	}
	return fmt.Sprintf("%s: %s: %s", where, p.Key, p.Why)
}

// Result is what Convert produced.
type Result struct {
	Conns []Conn
	// Unsupported lists every setting not carried over, with its line.
	Unsupported []Problem
	// Keys are PEM public keys to write: path → contents.
	Keys map[string][]byte
	// OE is what the opportunistic conns say (oe.go); nil: there are
	// none.
	OE *OESettings
}

// Convert turns the conn sections of f into oemesh conns.
func Convert(f *File, opts Options) (Result, error) {
	if opts.Local == "" {
		opts.Local = "left"
	}
	if opts.Local != "left" && opts.Local != "right" {
		return Result{}, fmt.Errorf("local side %q: want left or right", opts.Local)
	}
	res := Result{Keys: map[string][]byte{}}
	for _, inc := range f.Includes {
		res.Unsupported = append(res.Unsupported, Problem{File: inc.File, Line: inc.Line, Key: "include " + inc.Value,
			Why: "matches no file"})
	}
	// config setup: uniqueids and hidetos apply to every conn.
	var uniqueIDs, copyDSCP *bool
	var rev revocationSetup
	for _, s := range f.Sections {
		if s.Kind == "ca" {
			res.Unsupported = append(res.Unsupported, Problem{File: s.File, Line: s.Line, Key: "ca " + s.Name,
				Why: "certificate authorities are not supported"})
			res.Unsupported = append(res.Unsupported, caSectionProblems(s.File, s)...)
			continue
		}
		if s.Kind != "config" {
			continue
		}
		for _, st := range s.Settings {
			if handled, prob, err := rev.take(st); err != nil {
				return res, err
			} else if handled {
				if prob != nil {
					res.Unsupported = append(res.Unsupported, *prob)
				}
				continue
			}
			switch st.Key {
			case "uniqueids":
				b, err := yesNo(st.Value)
				if err != nil {
					return res, fmt.Errorf("%s:%d: uniqueids: %w", st.File, st.Line, err)
				}
				uniqueIDs = &b
			case "hidetos":
				b, err := yesNo(st.Value)
				if err != nil {
					return res, fmt.Errorf("%s:%d: hidetos: %w", st.File, st.Line, err)
				}
				if !b {
					res.Unsupported = append(res.Unsupported, Problem{File: st.File, Line: st.Line, Key: "config setup hidetos=no",
						Why: noDSCP})
					continue
				}
				nb := false
				copyDSCP = &nb
			default:
				why, ok := setupIgnored[st.Key]
				if !ok {
					why = "no oemesh equivalent"
				}
				res.Unsupported = append(res.Unsupported, Problem{File: st.File, Line: st.Line, Key: "config setup " + st.Key, Why: why})
			}
		}
	}
	def := f.Conn("%default")
	me, peer := opts.Local, "right"
	if me == "right" {
		peer = "left"
	}
	for _, s := range f.Sections {
		if s.Kind != "conn" || s.Name == "%default" {
			continue
		}
		settings, err := expand(f, s, def)
		if err != nil {
			return res, err
		}
		if isOEConn(settings, me) && !isOEConn(settings, peer) {
			st := settings[me]
			return res, fmt.Errorf("%s:%d: conn %s: %s=%s: the opportunistic group is the peer's side, so this host is the %s side (oemesh import --local %s)",
				st.File, st.Line, s.Name, me, st.Value, peer, peer)
		}
		if isOEConn(settings, peer) {
			if _, group := oeGroups[s.Name]; !group && alsoTarget(f, s.Name) {
				res.Unsupported = append(res.Unsupported, Problem{File: s.File, Line: s.Line, Key: "conn " + s.Name,
					Why: "not a conn of its own (an OE template): only its settings are used, through also="})
				continue
			}
			if res.OE == nil {
				res.OE = &OESettings{}
			}
			res.Unsupported = append(res.Unsupported, convertOEConn(s, settings, me, peer, opts, res.OE)...)
			continue
		}
		if _, hasPeer := peerAddr(s, opts.Local); !hasPeer && alsoTarget(f, s.Name) {
			res.Unsupported = append(res.Unsupported, Problem{File: s.File, Line: s.Line, Key: "conn " + s.Name,
				Why: "not a conn of its own (no peer address): only its settings are used, through also="})
			continue
		}
		c, probs, err := convertConn(s.File, s.Name, settings, opts, res.Keys)
		if err != nil {
			return res, err
		}
		res.Unsupported = append(res.Unsupported, probs...)
		if c == nil {
			continue
		}
		if uniqueIDs != nil {
			c.UniqueIDs = uniqueIDs
		}
		if copyDSCP != nil {
			c.CopyDSCP = copyDSCP
		}
		res.Conns = append(res.Conns, *c)
	}
	res.Unsupported = append(res.Unsupported, rev.apply(res.Conns)...)
	return res, nil
}

// expand resolves also= (depth first, in order, the conn's own settings
// winning) and then conn %default for keys still unset.
func expand(f *File, s *Section, def *Section) (map[string]Setting, error) {
	out := map[string]Setting{}
	var walk func(sec *Section, chain []string) error
	walk = func(sec *Section, chain []string) error {
		for _, st := range sec.Settings {
			if st.Key != "also" {
				continue
			}
			for _, name := range strings.Fields(st.Value) {
				if slices.Contains(chain, name) {
					return fmt.Errorf("%s:%d: conn %s: also=%s makes a loop (%s → %s)", st.File, st.Line, sec.Name, name, strings.Join(chain, " → "), name)
				}
				inc := f.Conn(name)
				if inc == nil {
					return fmt.Errorf("%s:%d: conn %s: also=%s names no conn", st.File, st.Line, sec.Name, name)
				}
				if err := walk(inc, append(slices.Clone(chain), name)); err != nil {
					return err
				}
			}
		}
		for _, st := range sec.Settings {
			if st.Key != "also" {
				out[st.Key] = st // later (the including conn's own) settings win
			}
		}
		return nil
	}
	if err := walk(s, []string{s.Name}); err != nil {
		return nil, err
	}
	if def != nil {
		for _, st := range def.Settings {
			if _, set := out[st.Key]; !set {
				out[st.Key] = st
			}
		}
	}
	return out, nil
}

func convertConn(file, name string, m map[string]Setting, opts Options, keys map[string][]byte) (*Conn, []Problem, error) {
	c := &Conn{Name: name}
	var probs []Problem
	bad := func(st Setting, format string, a ...any) error {
		return fmt.Errorf("%s:%d: conn %s: %s: %s", st.File, st.Line, name, st.Key, fmt.Sprintf(format, a...))
	}
	unsupported := func(st Setting, why string) {
		probs = append(probs, Problem{File: st.File, Line: st.Line, Conn: name, Key: st.Key + "=" + st.Value, Why: why})
	}
	me, peer := opts.Local, "right"
	if me == "right" {
		peer = "left"
	}
	// Settings in line order, so reports read like the file.
	ordered := make([]Setting, 0, len(m))
	for _, st := range m {
		ordered = append(ordered, st)
	}
	slices.SortFunc(ordered, func(a, b Setting) int { return a.Line - b.Line })
	var localKey string
	var cs certSettings
	for _, st := range ordered {
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
				switch {
				case v == "%defaultroute" && side == "local":
					c.Local = v
				case v == "%any" || v == "%any4" || v == "%any6" || v == "%opportunistic":
					if side == "local" {
						return nil, nil, bad(st, "our own side cannot be %s; is this host the %s side? (oemesh import --local %s)", v, peer, peer)
					}
					c.Remote = "%any"
				case isAddr(v):
					if side == "local" {
						c.Local = v
					} else {
						c.Remote = v
					}
				default:
					unsupported(st, "only addresses, %defaultroute and %any are supported (no DNS names)")
				}
			case "subnet", "subnets":
				if strings.HasPrefix(v, "vhost:") || strings.HasPrefix(v, "vnet:") {
					unsupported(st, "vhost: and vnet: are IKEv1's (Libreswan refuses them in IKEv2 conns too); the peer's address is the selector")
					continue
				}
				nets := strings.Fields(strings.NewReplacer("{", " ", "}", " ", ",", " ").Replace(v))
				for i, n := range nets {
					p, err := parsePrefix(n)
					if err != nil {
						return nil, nil, bad(st, "%v", err)
					}
					nets[i] = p.String()
				}
				if side == "local" {
					c.LocalSubnets = append(c.LocalSubnets, nets...)
				} else {
					c.RemoteSubnets = append(c.RemoteSubnets, nets...)
				}
			case "id":
				if (v == "%fromcert" && side == "local") || isDN(v) {
					cs.set(side, key, st) // IDs of certificates (certconv.go)
					continue
				}
				if v == "%any" || v == "%fromcert" || v == "%none" {
					unsupported(st, "special ID not supported; the peer's address is used")
					continue
				}
				id := v
				if !strings.HasPrefix(id, "@") && !isAddr(id) {
					unsupported(st, "only address and @fqdn IDs are supported")
					continue
				}
				if side == "local" {
					c.LocalID = id
				} else {
					c.RemoteID = id
				}
			case "cert", "ca", "auth", "sendcert":
				cs.set(side, key, st)
			case "rsasigkey", "pubkey":
				if v == "%cert" {
					continue // the key is the certificate's
				}
				if side == "local" {
					localKey = v
					continue
				}
				switch {
				case v == "%dns" || v == "%dnsondemand":
					c.RemoteKey = "dns"
				case strings.HasPrefix(v, "0s") || strings.HasPrefix(v, "0x"):
					der, err := rsaSigKeyDER(v)
					if err != nil {
						return nil, nil, bad(st, "%v", err)
					}
					path := filepath.Join(opts.KeyDir, name+"-"+peer+".pem")
					keys[path] = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
					c.RemoteKey = path
				default:
					unsupported(st, "only %dns and inline 0s/0x RSA keys are supported")
				}
			case "updown":
				if side == "local" {
					c.Updown = v
				} else {
					unsupported(st, "the peer's updown script runs on the peer")
				}
			case "protoport":
				unsupported(st, "port selectors are not supported; the whole subnet is carried")
			default:
				unsupported(st, "no oemesh equivalent")
			}
			continue
		}
		switch st.Key {
		case "authby":
			switch v {
			case "rsasig", "rsa", "rsa-sha1", "rsa-sha2", "rsa-sha2_256", "rsa-sha2_384", "rsa-sha2_512",
				"ecdsa", "ecdsa-sha2", "pubkey":
				c.Auth = "pubkey"
			case "secret", "psk":
				c.Auth = "psk"
			case "null":
				c.Auth = "null"
			case "secret|rsasig", "rsasig|secret":
				c.Auth = "pubkey"
				unsupported(st, "both methods allowed; converted to pubkey only")
			default:
				return nil, nil, bad(st, "unknown authentication %q", v)
			}
		case "auto":
			switch v {
			case "add":
				c.Auto = "add"
			case "route", "ondemand", "trap":
				c.Auto = "route"
			case "start", "up":
				c.Auto = "start"
			case "ignore":
				unsupported(st, "auto=ignore: this conn is not imported")
				return nil, probs, nil
			default:
				return nil, nil, bad(st, "unknown auto value %q", v)
			}
		case "keyingtries":
			if v == "%forever" {
				n := 0
				c.KeyingTries = &n
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return nil, nil, bad(st, "want a number or %%forever, got %q", v)
			}
			c.KeyingTries = &n
		case "keylife", "lifetime", "salifetime":
			d, err := ipsecDuration(v)
			if err != nil {
				return nil, nil, bad(st, "%v", err)
			}
			c.Lifetime = d.String()
		case "ikelifetime":
			d, err := ipsecDuration(v)
			if err != nil {
				return nil, nil, bad(st, "%v", err)
			}
			c.IKELifetime = d.String()
		case "rekey":
			b, err := yesNo(v)
			if err != nil {
				return nil, nil, bad(st, "%v", err)
			}
			c.Rekey = &b
		case "type":
			switch v {
			case "tunnel", "transport":
				c.Mode = v
			default:
				unsupported(st, "only tunnel and transport conns are imported; for "+v+" use a policy group (clear, block), or a line in portexcludes.conf for a protocol or port (docs/policy.md)")
				return nil, probs, nil
			}
		case "ike", "esp", "phase2alg":
			kind := ikeProposals
			if st.Key != "ike" {
				kind = espProposals
			}
			out, warnings, notes, err := convertProposals(kind, v)
			if err != nil && !strings.ContainsAny(v, ";+=") {
				// Not Libreswan's syntax, and nothing only Libreswan
				// writes: a strongSwan (stroke) ipsec.conf's proposals,
				// passed on for oemeshd to judge.
				out, warnings, notes, err = v, nil, []string{
					fmt.Sprintf("%s=%s (line %d) is passed on as written: check it reads as strongSwan proposal syntax", st.Key, v, st.Line)}, nil
			}
			if err != nil {
				return nil, nil, bad(st, "%v", err)
			}
			for _, w := range warnings {
				unsupported(st, w)
			}
			c.Notes = append(c.Notes, notes...)
			if kind == ikeProposals {
				c.IKE = out
			} else {
				c.ESP = out
			}
			if out != v {
				c.Notes = append(c.Notes, fmt.Sprintf("%s=%s (line %d) is written in strongSwan's syntax as %s", st.Key, v, st.Line, out))
			}
		case "dpddelay":
			d, err := ipsecDuration(v)
			if err != nil {
				return nil, nil, bad(st, "%v", err)
			}
			c.DPDInterval = d.String()
		case "dpdaction":
			switch v {
			case "clear", "hold", "restart":
				c.DPDAction = v
			case "none":
			default:
				return nil, nil, bad(st, "want clear, hold or restart, got %q", v)
			}
		case "keyexchange", "ikev2":
			if v == "ikev1" || v == "never" || v == "no" {
				unsupported(st, "oemesh speaks IKEv2 only; the peer must too")
			}
		case "uniqueids":
			b, err := yesNo(v)
			if err != nil {
				return nil, nil, bad(st, "%v", err)
			}
			c.UniqueIDs = &b
		case "hidetos":
			b, err := yesNo(v)
			if err != nil {
				return nil, nil, bad(st, "%v", err)
			}
			if !b {
				unsupported(st, noDSCP)
				continue
			}
			nb := false
			c.CopyDSCP = &nb
		default:
			unsupported(st, "no oemesh equivalent")
		}
	}
	if err := cs.apply(c, me, peer, opts, unsupported, bad); err != nil {
		return nil, nil, err
	}
	slices.SortStableFunc(probs, func(a, b Problem) int { return a.Line - b.Line }) // apply's, in line order too
	if localKey != "" && c.Auth != "cert" {
		c.Notes = append(c.Notes, "our own "+me+"rsasigkey is not imported: oemeshd signs with its hostkey (`oemesh showhostkey` prints it)")
	}
	if c.Remote == "" {
		return nil, nil, fmt.Errorf("%s: conn %s: no %s= (the peer's address): is this host the %s side? (oemesh import --local %s)", file, name, peer, peer, peer)
	}
	if c.Auth == "" {
		c.Auth = "pubkey" // FreeS/WAN's default authby=rsasig
	}
	if c.Auth == "psk" {
		if opts.Secrets == nil {
			c.Notes = append(c.Notes, "authby=secret: give --secrets so psk: names the secrets file")
			c.PSK = "/etc/ipsec.secrets"
		} else {
			c.PSK = opts.Secrets.File
			lid, rid := c.LocalID, c.RemoteID
			if lid == "" {
				lid = c.Local
			}
			if rid == "" {
				rid = c.Remote
			}
			if e, ok := opts.Secrets.find(lid, rid); ok {
				c.Notes = append(c.Notes, fmt.Sprintf("PSK found in %s at line %d", e.File, e.Line))
			} else {
				c.Notes = append(c.Notes, fmt.Sprintf("no PSK for %s %s in %s: add one before starting", lid, rid, opts.Secrets.File))
			}
		}
	}
	if c.Auth == "pubkey" && c.RemoteKey == "" {
		c.RemoteKey = "dns"
		c.Notes = append(c.Notes, "no "+peer+"rsasigkey: the peer's key is looked up in DNS")
	}
	return c, probs, nil
}

func isAddr(s string) bool {
	_, err := parseAddr(s)
	return err == nil
}

// peerAddr returns the peer side's address setting of a section itself.
func peerAddr(s *Section, local string) (Setting, bool) {
	if local == "right" {
		return s.Get("left")
	}
	return s.Get("right")
}

// alsoTarget reports whether some conn includes name with also=.
func alsoTarget(f *File, name string) bool {
	for _, s := range f.Sections {
		for _, st := range s.Settings {
			if st.Key == "also" && slices.Contains(strings.Fields(st.Value), name) {
				return true
			}
		}
	}
	return false
}

// noDSCP is why hidetos=no is not carried over.
const noDSCP = "oemesh's data planes send ESP with DSCP 0 (hidetos=yes); copying the inner DSCP is not supported yet"
