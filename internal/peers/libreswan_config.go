package peers

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// LibreswanConfig is one pluto instance's configuration: ipsec.conf's config setup and conns,
// the policy group files, secrets and the resolver pluto's libunbound uses.
type LibreswanConfig struct {
	Conns []LibreswanConn
	// Policies are the policy group files (ipsec.d/policies/<name>), e.g.
	// {"private-or-clear": {"192.0.2.0/24"}}. The five standard groups always exist (empty
	// unless given here), as Debian installs them.
	Policies map[string][]string
	// Secrets are lines of ipsec.secrets, e.g. `192.0.2.1 192.0.2.2 : PSK "secret"`.
	Secrets []string
	// PlutoDebug is plutodebug= ("" = none; "base" logs payloads).
	PlutoDebug string
	// Nameserver is the resolver in pluto's private resolv.conf (default 127.0.0.1, so no
	// query ever leaves the namespace unless a test serves DNS). Note: libunbound answers
	// reverse zones of 192.0.2.0/24 and other documentation ranges itself (empty); use
	// 198.18.0.0/15 where pluto must look keys up in DNS.
	Nameserver string
	// DNSSEC sets dnssec-enable=yes; TrustAnchor is then the content of
	// dnssec-rootkey-file (e.g. the DS record of the test zone).
	DNSSEC      bool
	TrustAnchor string
	// HostKeyBits > 0 makes an RSA host key of that size in the instance's NSS db before
	// pluto starts (ipsec newhostkey); conns with LeftHostKey authenticate with it.
	HostKeyBits int
	// CAs are trust anchors imported into the instance's NSS db before pluto
	// starts, as Libreswan's letsencrypt script imports Let's Encrypt's roots:
	// nickname → PEM certificate, `certutil -A -t CT,,`.
	CAs map[string][]byte
	// Certs are certificates with their private keys imported into the
	// instance's NSS db before pluto starts, as an operator imports a
	// server's certificate (`pk12util -i`): nickname (what leftcert= names)
	// → certificate and key.
	Certs map[string]LibreswanCert
	// Setup holds extra "key=value" lines for config setup.
	Setup []string
}

// LibreswanCert is a certificate and its private key for pluto's NSS db.
type LibreswanCert struct {
	// PEM is the end-entity certificate, then the intermediates that go
	// with it (what sendca=issuer sends).
	PEM []byte
	// KeyPEM is its private key (PKCS#8, PKCS#1 or SEC 1), unencrypted.
	KeyPEM []byte
}

// LibreswanConn is one conn section of ipsec.conf. Empty fields are left out (pluto's
// default applies); Extra carries any other key=value line.
type LibreswanConn struct {
	Name              string
	Left, Right       string // addresses, %group, %opportunisticgroup, %any
	LeftID, RightID   string // e.g. %null, 192.0.2.1, @host.example
	AuthBy            string // authby= (null, rsasig, secret, never, ...)
	LeftAuth          string // leftauth= (null, rsasig, secret)
	RightAuth         string
	LeftHostKey       bool   // leftckaid= the instance's NSS host key (LibreswanConfig.HostKeyBits)
	LeftRSASigKey     string // leftrsasigkey= ("0s..." from RSASigKey, %dnsondemand, ...)
	RightRSASigKey    string
	LeftSubnet        string
	RightSubnet       string
	Type              string // tunnel, transport, passthrough, reject, drop
	IKEv2             string // ikev2= (4.10: "insist" for IKEv2 only)
	Auto              string // add, route, start, ondemand, ignore
	IKE, ESP          string // ike=, esp= in Libreswan syntax, e.g. "aes_gcm256-sha2_512;dh19"
	Fragmentation     string // fragmentation= yes, no, force
	NegotiationShunt  string // hold, passthrough
	FailureShunt      string // none, passthrough, drop, reject
	KeyingTries       int
	RetransmitTimeout time.Duration
	// Updown is leftupdown= ("" = %disabled: the harness does not want _updown's routes).
	Updown string
	Extra  []string
}

// StandardGroups are the policy groups Debian ships (empty).
var StandardGroups = []string{"clear", "clear-or-private", "private-or-clear", "private", "block"}

// OEConns returns the conns of Libreswan's oe-authnull.conf example for local address left,
// with the fixes the research notes found necessary on 4.10: an explicit left= (a test
// namespace has no default route for %defaultroute) and authby=never on the clear and block
// shunt conns (the shipped authby=null is rejected: "shunt connection cannot have
// authentication method other then authby=never").
func OEConns(left string) []LibreswanConn {
	oe := func(name, auto, failure string) LibreswanConn {
		c := LibreswanConn{
			Name: name, Type: "tunnel", AuthBy: "null", LeftID: "%null", RightID: "%null",
			Left: left, Right: "%opportunisticgroup", NegotiationShunt: "hold", FailureShunt: failure,
			IKEv2: "insist", Auto: auto,
		}
		if name == "private-or-clear" {
			c.KeyingTries = 1
			c.RetransmitTimeout = 2 * time.Second
		}
		return c
	}
	return []LibreswanConn{
		{Name: "clear", Type: "passthrough", AuthBy: "never", Left: left, Right: "%group", Auto: "route"},
		oe("clear-or-private", "add", "passthrough"),
		oe("private-or-clear", "route", "passthrough"),
		oe("private", "route", "drop"),
		{Name: "block", Type: "reject", AuthBy: "never", Left: left, Right: "%group", Auto: "route"},
	}
}

func (c *LibreswanConfig) validate() error {
	seen := map[string]bool{}
	for i, conn := range c.Conns {
		if !validName(conn.Name) {
			return fmt.Errorf("libreswan config: conns[%d]: name %q must be letters, digits, - or _", i, conn.Name)
		}
		if seen[conn.Name] {
			return fmt.Errorf("libreswan config: conn %q defined twice", conn.Name)
		}
		seen[conn.Name] = true
		if conn.LeftHostKey && c.HostKeyBits == 0 {
			return fmt.Errorf("libreswan config: conn %q: LeftHostKey needs HostKeyBits", conn.Name)
		}
		for _, l := range conn.Extra {
			if !strings.Contains(l, "=") || strings.ContainsAny(l, "\n") {
				return fmt.Errorf("libreswan config: conn %q: extra line %q is not key=value", conn.Name, l)
			}
		}
	}
	for nick := range c.CAs {
		if !validName(nick) {
			return fmt.Errorf("libreswan config: CA nickname %q must be letters, digits, - or _", nick)
		}
	}
	for nick, cert := range c.Certs {
		// Nicknames are often the server's DNS name (leftcert=host.example).
		if !validName(strings.ReplaceAll(nick, ".", "-")) {
			return fmt.Errorf("libreswan config: certificate nickname %q must be letters, digits, '.', - or _", nick)
		}
		if len(cert.PEM) == 0 || len(cert.KeyPEM) == 0 {
			return fmt.Errorf("libreswan config: certificate %q needs both PEM and KeyPEM", nick)
		}
	}
	for g, cidrs := range c.Policies {
		if !validName(g) {
			return fmt.Errorf("libreswan config: policy group name %q", g)
		}
		for _, cidr := range cidrs {
			if strings.ContainsAny(cidr, "\n") {
				return fmt.Errorf("libreswan config: policy group %s: entry %q spans lines", g, cidr)
			}
		}
	}
	return nil
}

// ipsecConf renders ipsec.conf for an instance in dir; ckaid is its host key's CKAID.
func (c *LibreswanConfig) ipsecConf(dir, ckaid string) string {
	var b strings.Builder
	kv := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "\t%s=%s\n", k, v)
		}
	}
	b.WriteString("# generated by internal/peers\nconfig setup\n")
	kv("logfile", filepath.Join(dir, "pluto.log"))
	kv("logappend", "no")
	kv("logtime", "yes")
	debug := c.PlutoDebug
	if debug == "" {
		debug = "none"
	}
	kv("plutodebug", quoteLibreswan(debug))
	kv("ipsecdir", filepath.Join(dir, "ipsec.d"))
	kv("nssdir", filepath.Join(dir, "nss"))
	kv("secretsfile", filepath.Join(dir, "ipsec.secrets"))
	kv("dumpdir", filepath.Join(dir, "run"))
	if c.DNSSEC {
		kv("dnssec-enable", "yes")
		kv("dnssec-rootkey-file", filepath.Join(dir, "trust-anchor"))
	} else {
		kv("dnssec-enable", "no")
	}
	for _, l := range c.Setup {
		b.WriteString("\t" + l + "\n")
	}
	for _, conn := range c.Conns {
		fmt.Fprintf(&b, "\nconn %s\n", conn.Name)
		kv("left", conn.Left)
		kv("right", conn.Right)
		kv("leftid", conn.LeftID)
		kv("rightid", conn.RightID)
		kv("authby", conn.AuthBy)
		kv("leftauth", conn.LeftAuth)
		kv("rightauth", conn.RightAuth)
		if conn.LeftHostKey {
			kv("leftckaid", ckaid)
		}
		kv("leftrsasigkey", conn.LeftRSASigKey)
		kv("rightrsasigkey", conn.RightRSASigKey)
		kv("leftsubnet", conn.LeftSubnet)
		kv("rightsubnet", conn.RightSubnet)
		kv("type", conn.Type)
		kv("ikev2", conn.IKEv2)
		kv("ike", conn.IKE)
		kv("esp", conn.ESP)
		kv("fragmentation", conn.Fragmentation)
		kv("negotiationshunt", conn.NegotiationShunt)
		kv("failureshunt", conn.FailureShunt)
		if conn.KeyingTries != 0 {
			kv("keyingtries", strconv.Itoa(conn.KeyingTries))
		}
		if conn.RetransmitTimeout > 0 {
			kv("retransmit-timeout", strconv.FormatFloat(conn.RetransmitTimeout.Seconds(), 'f', -1, 64)+"s")
		}
		if conn.Type != "passthrough" && conn.Type != "reject" && conn.Type != "drop" {
			updown := conn.Updown
			if updown == "" {
				updown = "%disabled"
			}
			kv("leftupdown", updown)
		}
		for _, l := range conn.Extra {
			b.WriteString("\t" + l + "\n")
		}
		kv("auto", conn.Auto)
	}
	return b.String()
}

func quoteLibreswan(v string) string {
	if strings.ContainsAny(v, " \t") {
		return `"` + v + `"`
	}
	return v
}

// writeFiles writes the instance's config files into dir (not the NSS db).
func (c *LibreswanConfig) writeFiles(dir, ckaid string) error {
	if err := c.validate(); err != nil {
		return err
	}
	pol := filepath.Join(dir, "ipsec.d", "policies")
	for _, d := range []string{pol, filepath.Join(dir, "run"), filepath.Join(dir, "nss")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("libreswan config: %w", err)
		}
	}
	groups := map[string]bool{}
	for _, g := range StandardGroups {
		groups[g] = true
	}
	for g := range c.Policies {
		groups[g] = true
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	files := map[string]string{}
	for _, g := range names {
		files[filepath.Join(pol, g)] = "# policy group " + g + " (internal/peers)\n" + strings.Join(append(c.Policies[g], ""), "\n")
	}
	ns := c.Nameserver
	if ns == "" {
		ns = "127.0.0.1"
	}
	files[filepath.Join(dir, "resolv.conf")] = "nameserver " + ns + "\n"
	files[filepath.Join(dir, "trust-anchor")] = c.TrustAnchor + "\n"
	files[filepath.Join(dir, "ipsec.secrets")] = strings.Join(append(append([]string(nil), c.Secrets...), ""), "\n")
	files[filepath.Join(dir, "ipsec.conf")] = c.ipsecConf(dir, ckaid)
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o600); err != nil {
			return fmt.Errorf("libreswan config: write %s: %w", name, err)
		}
	}
	return nil
}
