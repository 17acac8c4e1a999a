package config

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// Conn is one configured connection (a FreeS/WAN `conn` section) from the
// `conns:` list: a fixed tunnel beside opportunistic encryption.
type Conn struct {
	Name string
	// Local and Remote are as written: an address, %defaultroute (local)
	// or %any (remote, a road warrior). LocalAddr and RemoteAddr hold the
	// address when there is one.
	Local, Remote         string
	LocalAddr, RemoteAddr netip.Addr
	// LocalSubnets and RemoteSubnets are the client networks behind each
	// side; empty means the side's own address (host to host).
	LocalSubnets, RemoteSubnets []netip.Prefix
	// LocalID and RemoteID are an address or @fqdn; empty means the
	// side's address. With auth cert, RemoteID may also be a
	// distinguished name ("C=CH, O=Example, CN=peer") and LocalID is
	// %fromcert (the default: our certificate's subject DN) or one of our
	// certificate's subjectAltNames as an address or @fqdn.
	LocalID, RemoteID string
	Auth              string // pubkey, psk, null or cert
	// RemoteKey is a PEM public key file, or "dns" to fetch it like OE.
	RemoteKey string
	// PSK is the path of the secrets file (ipsec.secrets format, 0600)
	// that holds the pre-shared key; the key itself never appears here.
	PSK string
	// Cert, Key and CA are the files of auth cert, absolute paths: our
	// certificate (PEM: the end entity, then the intermediates to send),
	// its private key (PEM PKCS#8, PKCS#1 or SEC1, mode 0600) and the CA
	// bundle (a PEM file or a directory of them) the peer's certificate
	// must chain to. The daemon reads and checks them (cmd/oemeshd),
	// again on SIGHUP.
	Cert, Key, CA string
	// CRL is a CRL file or a directory of them (PEM or DER) that the
	// peer's chain is checked against, with certs.crls; empty: those
	// only. OCSP is off, soft or hard; empty: certs.ocsp. Both only with
	// auth cert; the CRLs are read again on SIGHUP.
	CRL, OCSP string
	Mode      string // tunnel or transport
	// IKE and ESP are proposals in strongSwan's syntax, keN_ additional
	// key exchanges included; empty: the defaults. They are kept as
	// written: the daemon parses them with the IKE engine's parser.
	IKE, ESP    string
	IKELifetime time.Duration
	Lifetime    time.Duration
	Rekey       bool
	KeyingTries int // 0: forever
	DPD         DPD
	Auto        string // add, route or start
	UniqueIDs   bool
	CopyDSCP    bool
	Updown      string // script path, or ""
}

// DPD is a conn's dead peer detection.
type DPD struct {
	Interval time.Duration // 0: off
	Action   string        // clear, hold or restart
}

// connKeys lists the keys a conn table may hold, for strict checking.
var connKeys = []string{
	"name", "local", "remote", "local_subnets", "remote_subnets", "local_id", "remote_id",
	"auth", "remote_key", "psk", "cert", "key", "ca", "crl", "ocsp", "mode", "ike", "esp", "ike_lifetime", "lifetime", "rekey",
	"keying_tries", "dpd", "auto", "unique_ids", "copy_dscp", "updown",
}

// LoadConns reads the `conns:` list of a configuration file (the main one,
// or one given to `oemesh conn add`). A file without conns yields none.
func LoadConns(file string) ([]Conn, error) {
	if file == "" {
		return nil, nil
	}
	v := viper.New()
	ext := strings.TrimPrefix(filepath.Ext(file), ".")
	switch ext {
	case "yaml", "yml", "toml":
	default:
		return nil, fmt.Errorf("config %s: unknown file type %q: use .yaml, .yml or .toml", file, ext)
	}
	v.SetConfigFile(file)
	v.SetConfigType(ext)
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	if !v.IsSet("conns") {
		return nil, nil
	}
	return ParseConns(v.Get("conns"), "config "+file)
}

// ParseConns decodes and validates a `conns:` list as YAML or TOML decoders
// produce it (a list of tables). src names where it came from in errors;
// every error names the conn and the key.
func ParseConns(raw any, src string) ([]Conn, error) {
	list, ok := raw.([]any)
	if !ok {
		if ms, ok2 := raw.([]map[string]any); ok2 { // TOML arrays of tables
			for _, m := range ms {
				list = append(list, m)
			}
		} else {
			return nil, fmt.Errorf("%s: key conns: want a list of tables, got %s", src, describeType(raw))
		}
	}
	var errs []error
	var out []Conn
	names := map[string]int{}
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: conns[%d]: want a table, got %s", src, i, describeType(item)))
			continue
		}
		c, cerrs := parseConn(m, i)
		for _, e := range cerrs {
			errs = append(errs, fmt.Errorf("%s: %w", src, e))
		}
		if len(cerrs) > 0 {
			continue
		}
		if j, dup := names[c.Name]; dup {
			errs = append(errs, fmt.Errorf("%s: conn %s: key name: also used by conns[%d]", src, c.Name, j))
			continue
		}
		names[c.Name] = i
		out = append(out, c)
	}
	for _, e := range Overlaps(out) {
		errs = append(errs, fmt.Errorf("%s: %w", src, e))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// connErr names the conn and key of a problem.
func connErr(name, key string, format string, a ...any) error {
	return fmt.Errorf("conn %s: key %s: %s", name, key, fmt.Sprintf(format, a...))
}

func parseConn(m map[string]any, idx int) (Conn, []error) {
	var errs []error
	name := fmt.Sprintf("conns[%d]", idx)
	if s, ok := m["name"].(string); ok && validConnName(s) {
		name = s
	} else if _, present := m["name"]; !present {
		errs = append(errs, connErr(name, "name", "missing: every conn needs a name"))
	} else {
		errs = append(errs, connErr(name, "name", "want a name of letters, digits, '-', '_' or '.', got %v", m["name"]))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(connKeys, k) {
			errs = append(errs, connErr(name, k, "unknown key%s", suggestFrom(k, connKeys)))
		}
	}
	c := Conn{Name: name, Auth: "pubkey", RemoteKey: "dns", Mode: "tunnel", Rekey: true, KeyingTries: 3,
		Auto: "add", UniqueIDs: true, IKELifetime: 4 * time.Hour, Lifetime: time.Hour, DPD: DPD{Action: "hold"}}
	bad := func(key, format string, a ...any) { errs = append(errs, connErr(name, key, format, a...)) }
	str := func(key string, dst *string) bool {
		v, ok := m[key]
		if !ok {
			return false
		}
		s, ok := v.(string)
		if !ok {
			bad(key, "want a string, got %s", describeType(v))
			return false
		}
		*dst = strings.TrimSpace(s)
		return true
	}
	boolean := func(key string, dst *bool) {
		if v, ok := m[key]; ok {
			b, ok := v.(bool)
			if !ok {
				bad(key, "want true or false, got %s", describeType(v))
				return
			}
			*dst = b
		}
	}
	duration := func(key string, dst *time.Duration, v any) {
		d, err := connDuration(v)
		if err != nil {
			bad(key, "%v", err)
			return
		}
		*dst = d
	}
	// Addresses.
	if !str("local", &c.Local) {
		c.Local = "%defaultroute"
	}
	if c.Local != "%defaultroute" {
		a, err := netip.ParseAddr(c.Local)
		if err != nil {
			bad("local", "want an IP address or %%defaultroute, got %q", c.Local)
		}
		c.LocalAddr = a.Unmap()
	}
	if !str("remote", &c.Remote) {
		bad("remote", "missing: give the peer's address, or %%any for road warriors")
	} else if c.Remote != "%any" {
		a, err := netip.ParseAddr(c.Remote)
		if err != nil {
			bad("remote", "want an IP address or %%any, got %q", c.Remote)
		}
		c.RemoteAddr = a.Unmap()
	}
	c.LocalSubnets = prefixList(m, "local_subnets", bad)
	c.RemoteSubnets = prefixList(m, "remote_subnets", bad)
	// Authentication.
	str("auth", &c.Auth)
	if err := oneOf("pubkey", "psk", "null")(c.Auth); err != nil && c.Auth != "cert" {
		bad("auth", "%v, got %q (or cert, for X.509 certificates with the keys cert, key and ca)", err, c.Auth)
	}
	for _, k := range []struct {
		key string
		dst *string
	}{{"local_id", &c.LocalID}, {"remote_id", &c.RemoteID}} {
		if !str(k.key, k.dst) {
			continue
		}
		switch {
		case c.Auth == "cert" && k.key == "local_id" && *k.dst == "%fromcert":
		case c.Auth == "cert" && k.key == "remote_id" && strings.Contains(*k.dst, "="):
			if err := dnSyntax(*k.dst); err != nil {
				bad(k.key, "%v", err)
			}
		case c.Auth != "cert" && (*k.dst == "%fromcert" || strings.Contains(*k.dst, "=")):
			bad(k.key, "%q needs auth cert (auth is %s)", *k.dst, c.Auth)
		default:
			if err := identity(*k.dst); err != nil || *k.dst == "" {
				if c.Auth == "cert" && k.key == "local_id" {
					bad(k.key, "want %%fromcert, or a subjectAltName of our certificate as an IP address or @fqdn, got %q", *k.dst)
				} else if c.Auth == "cert" {
					bad(k.key, "want a distinguished name (\"C=CH, O=Example, CN=peer\"), an IP address or @fqdn, got %q", *k.dst)
				} else {
					bad(k.key, "want an IP address or @fqdn, got %q", *k.dst)
				}
			}
		}
	}
	if c.Auth == "cert" && c.LocalID == "" {
		c.LocalID = "%fromcert"
	}
	for _, k := range []struct {
		key, what string
		dst       *string
	}{{"cert", "our certificate (PEM)", &c.Cert}, {"key", "our certificate's private key (PEM, mode 0600)", &c.Key}, {"ca", "the CA bundle (a PEM file or a directory)", &c.CA}} {
		set := str(k.key, k.dst)
		switch {
		case set && c.Auth != "cert":
			bad(k.key, "set, but auth is %s (only auth cert uses it)", c.Auth)
		case set && !strings.HasPrefix(*k.dst, "/"):
			bad(k.key, "want the absolute path of %s, got %q", k.what, *k.dst)
		case !set && c.Auth == "cert":
			bad(k.key, "missing: auth cert needs %s", k.what)
		}
	}
	if str("crl", &c.CRL) {
		switch {
		case c.Auth != "cert":
			bad("crl", "set, but auth is %s (only auth cert checks revocation)", c.Auth)
		case !strings.HasPrefix(c.CRL, "/"):
			bad("crl", "want the absolute path of a CRL file or a directory of CRLs, got %q", c.CRL)
		}
	}
	if str("ocsp", &c.OCSP) {
		switch {
		case c.Auth != "cert":
			bad("ocsp", "set, but auth is %s (only auth cert checks revocation)", c.Auth)
		case oneOf("off", "soft", "hard")(c.OCSP) != nil:
			bad("ocsp", "want off, soft or hard (empty: certs.ocsp), got %q", c.OCSP)
		}
	}
	if str("remote_key", &c.RemoteKey) && c.Auth == "cert" {
		bad("remote_key", "set, but auth is cert: the peer's key comes from its certificate")
	}
	if c.RemoteKey != "dns" && !strings.HasPrefix(c.RemoteKey, "/") {
		bad("remote_key", "want dns or the absolute path of a PEM public key, got %q", c.RemoteKey)
	}
	if str("psk", &c.PSK) && !strings.HasPrefix(c.PSK, "/") {
		bad("psk", "must name a secrets file (absolute path, mode 0600), never hold the key itself")
	}
	switch {
	case c.Auth == "psk" && c.PSK == "":
		bad("psk", "missing: auth psk needs the secrets file that holds the key")
	case c.Auth != "psk" && c.PSK != "":
		bad("psk", "set, but auth is %s", c.Auth)
	}
	// Mode and algorithms.
	str("mode", &c.Mode)
	if err := oneOf("tunnel", "transport")(c.Mode); err != nil {
		bad("mode", "%v, got %q", err, c.Mode)
	}
	if c.Mode == "transport" && (len(c.LocalSubnets) > 0 || len(c.RemoteSubnets) > 0) {
		bad("mode", "transport mode carries only the two hosts' own traffic; remove the subnets or use tunnel")
	}
	str("ike", &c.IKE)
	str("esp", &c.ESP)
	// Lifetimes and retries.
	if v, ok := m["ike_lifetime"]; ok {
		duration("ike_lifetime", &c.IKELifetime, v)
	}
	if v, ok := m["lifetime"]; ok {
		duration("lifetime", &c.Lifetime, v)
	}
	boolean("rekey", &c.Rekey)
	if v, ok := m["keying_tries"]; ok {
		n, ok := v.(int)
		if i64, ok64 := v.(int64); ok64 {
			n, ok = int(i64), true
		}
		if !ok || n < 0 {
			bad("keying_tries", "want a whole number ≥ 0 (0: forever), got %v", v)
		} else {
			c.KeyingTries = n
		}
	}
	// Behaviour.
	if v, ok := m["dpd"]; ok {
		dm, ok := v.(map[string]any)
		if !ok {
			bad("dpd", "want a table with interval and action, got %s", describeType(v))
		} else {
			for k, dv := range dm {
				switch k {
				case "interval":
					duration("dpd.interval", &c.DPD.Interval, dv)
				case "action":
					s, _ := dv.(string)
					if oneOf("clear", "hold", "restart")(s) != nil {
						bad("dpd.action", "must be one of clear, hold, restart, got %v", dv)
					} else {
						c.DPD.Action = s
					}
				default:
					bad("dpd."+k, "unknown key (want interval, action)")
				}
			}
		}
	}
	str("auto", &c.Auto)
	if err := oneOf("add", "route", "start")(c.Auto); err != nil {
		bad("auto", "%v, got %q", err, c.Auto)
	}
	if c.Remote == "%any" && c.Auto != "add" {
		bad("auto", "%s needs a known peer, but remote is %%any (a road warrior conn can only be added)", c.Auto)
	}
	boolean("unique_ids", &c.UniqueIDs)
	boolean("copy_dscp", &c.CopyDSCP)
	if str("updown", &c.Updown) && !strings.HasPrefix(c.Updown, "/") {
		bad("updown", "must be an absolute path, got %q", c.Updown)
	}
	if c.LocalAddr.IsValid() && c.RemoteAddr.IsValid() && c.LocalAddr.Is4() != c.RemoteAddr.Is4() {
		bad("remote", "%s and local %s are of different address families", c.RemoteAddr, c.LocalAddr)
	}
	return c, errs
}

// dnSyntax checks the shape of a distinguished name written as text,
// "ATTR=value" parts separated by commas (a backslash escapes a comma).
// The daemon parses it in full (certs.ParseDNText) when it loads the conn.
func dnSyntax(s string) error {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case ',':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	parts = append(parts, s[start:])
	for _, p := range parts {
		attr, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || strings.TrimSpace(attr) == "" || strings.TrimSpace(val) == "" {
			return fmt.Errorf("distinguished name %q: part %q is not ATTR=value (as in \"C=CH, O=Example, CN=peer\")", s, strings.TrimSpace(p))
		}
	}
	return nil
}

func validConnName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func prefixList(m map[string]any, key string, bad func(key, format string, a ...any)) []netip.Prefix {
	v, ok := m[key]
	if !ok {
		return nil
	}
	var items []string
	switch l := v.(type) {
	case string:
		items = strings.Fields(strings.ReplaceAll(l, ",", " "))
	case []any:
		for _, x := range l {
			s, ok := x.(string)
			if !ok {
				bad(key, "want CIDR prefixes, got %s", describeType(x))
				return nil
			}
			items = append(items, s)
		}
	default:
		bad(key, "want a list of CIDR prefixes, got %s", describeType(v))
		return nil
	}
	var out []netip.Prefix
	for _, s := range items {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			bad(key, "%q is not a CIDR prefix", s)
			continue
		}
		if p.Masked() != p {
			bad(key, "%q has host bits set; did you mean %s?", s, p.Masked())
			continue
		}
		out = append(out, p)
	}
	return out
}

func connDuration(v any) (time.Duration, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("want a duration such as 8h or 30s, got %s", describeType(v))
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("want a duration such as 8h or 30s, got %q", s)
	}
	return d, nil
}

func suggestFrom(name string, known []string) string {
	best, bestD := "", 4
	for _, k := range known {
		if d := distance(name, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Overlaps reports pairs of conns that would shadow each other: both cover
// the same local and remote traffic (their subnets overlap on both sides)
// toward peers that cannot be told apart. FreeS/WAN requires that subnets
// of different conns do not overlap; two road warriors are told apart by
// their IDs.
func Overlaps(conns []Conn) []error {
	var errs []error
	for i := range conns {
		for j := i + 1; j < len(conns); j++ {
			a, b := &conns[i], &conns[j]
			if a.Remote == "%any" && b.Remote == "%any" && a.RemoteID != b.RemoteID {
				continue
			}
			ra, rb := sideNets(a.RemoteSubnets, a.RemoteAddr), sideNets(b.RemoteSubnets, b.RemoteAddr)
			la, lb := sideNets(a.LocalSubnets, a.LocalAddr), sideNets(b.LocalSubnets, b.LocalAddr)
			pr, okR := overlapping(ra, rb)
			_, okL := overlapping(la, lb)
			if !okR || (!okL && len(la) > 0 && len(lb) > 0) {
				continue
			}
			errs = append(errs, fmt.Errorf("conn %s: key remote_subnets: %s overlaps %s of conn %s: one would shadow the other (subnets of different conns must not overlap)",
				b.Name, pr[1], pr[0], a.Name))
		}
	}
	return errs
}

func sideNets(subnets []netip.Prefix, addr netip.Addr) []netip.Prefix {
	if len(subnets) > 0 {
		return subnets
	}
	if addr.IsValid() {
		return []netip.Prefix{netip.PrefixFrom(addr, addr.BitLen())}
	}
	return nil
}

func overlapping(a, b []netip.Prefix) ([2]netip.Prefix, bool) {
	for _, x := range a {
		for _, y := range b {
			if x.Overlaps(y) {
				return [2]netip.Prefix{x, y}, true
			}
		}
	}
	return [2]netip.Prefix{}, false
}

// ConnSummary is how `oemesh status` and `conn list` describe a conn's
// settings in one line.
func (c Conn) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", c.Local, subnetsOr(c.LocalSubnets))
	fmt.Fprintf(&b, " <-> %s %s", c.Remote, subnetsOr(c.RemoteSubnets))
	fmt.Fprintf(&b, " auth=%s mode=%s auto=%s keying_tries=%s", c.Auth, c.Mode, c.Auto, strconv.Itoa(c.KeyingTries))
	return b.String()
}

func subnetsOr(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return "(host)"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}
