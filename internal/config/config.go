package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// DefaultFile is where oemeshd looks for its configuration.
const DefaultFile = "/etc/oemesh/oemesh.yaml"

// Config is oemeshd's whole configuration, validated.
type Config struct {
	File          string // the file read, or "" when none
	Identity      string // "" (auto), an IP address, or @fqdn
	HostKey       string
	Policies      string
	Dataplane     string       // auto, xfrm or userspace
	Listen        []netip.Addr // empty: all
	IKEPort       uint16
	NATTPort      uint16
	IKE           IKE
	Crypto        Crypto
	DNS           DNS
	OE            OE
	Kernel        Kernel
	ControlSocket string
	Log           Log
	Metrics       Metrics
	Certs         Certs
}

// IKE is the ike.* section.
type IKE struct {
	// PQ is the post-quantum hybrid mode of the default IKE proposals:
	// prefer, require or off (ike.ParsePQMode reads it). A conn's own
	// ike: proposals are not touched by it.
	PQ string
	// Limits are the IKE_SA_INIT flood defences (ike.limits.*).
	Limits IKELimits
}

// DNS is the dns.* section.
type DNS struct {
	Servers       []string // address[:port] or resolv.conf paths
	Timeout       time.Duration
	RequireDNSSEC bool
	// ExemptServers takes the servers in Servers out of OE (the DNS
	// deadlock, docs/dns-exemption.md).
	ExemptServers bool
	Bindings      DNSBindings
	Publish       Publish
	// StubListen is where the DNS stub serves (dns.stub.listen); not
	// valid when the stub is off.
	StubListen netip.AddrPort
	// Prestart starts OE to a name's addresses when the stub passes its
	// answer (dns.prestart); only with the stub on.
	Prestart bool
	// StubEarlyLookup starts the stub's key look-up at a queried name
	// when the query arrives (dns.stub.early_lookup).
	StubEarlyLookup bool
	// StubHold holds the stub's answers for their prestarted
	// negotiations, at most this long (dns.stub.hold); 0: never.
	StubHold time.Duration
}

// DNSBindings is the dns.bindings.* section: the store of addresses
// bound to the forward names they were looked up by.
type DNSBindings struct {
	Max            int
	MinTTL, MaxTTL time.Duration
}

func (b DNSBindings) check() error {
	if b.MinTTL > b.MaxTTL {
		return fmt.Errorf("dns.bindings.min_ttl %v exceeds dns.bindings.max_ttl %v", b.MinTTL, b.MaxTTL)
	}
	return nil
}

// Publish is the dns.publish.* section: what oemeshd writes about this
// host into DNS (docs/dns.md).
type Publish struct {
	// Reverse, Forward and Address say what is published (dns.publish.records):
	// the IPSECKEY at the reverse names and at the forward name, and A/AAAA
	// at the forward name. None of them: publication is off.
	Reverse, Forward, Address bool
	Name                      string       // the forward name; "" means the @fqdn identity
	Addresses                 []netip.Addr // empty means the address identity
	TSIGKey                   string       // key file path
	Primary                   string       // "" means each zone's SOA MNAME
	Zone                      string       // "" means found by SOA look-ups
	TTL                       time.Duration
	WithdrawOnStop            bool
}

// Enabled reports whether anything is to be published.
func (p Publish) Enabled() bool { return p.Reverse || p.Forward || p.Address }

// Kernel is the kernel.* section.
type Kernel struct {
	FailClosed bool
	// GuardNegotiating blocks each destination in the guard while its
	// flow is held for a negotiation (userspace data plane only).
	GuardNegotiating bool
	HoldFirstPackets bool
	CipherIdle       time.Duration
	// Offloads lets the userspace data plane's TUN device use TSO and GRO
	// (virtio-net header) and read and write in batches.
	Offloads bool
	// UDPEncap is auto, always or never: whether ESP is UDP
	// encapsulated without a NAT (ForceUDPEncap).
	UDPEncap string
	// The userspace data plane's routing tables and rule priorities.
	Table, RulePriority           uint32
	GuardTable, GuardRulePriority uint32
}

// Log is the log.* section.
type Log struct {
	Level  slog.Level
	Format string // text or json
}

// Metrics is the metrics.* section.
type Metrics struct {
	Listen string // "off" or ADDRESS:PORT
}

// Options says where Load reads from.
type Options struct {
	// File is the configuration file. If FileRequired is false, a missing
	// file is not an error and defaults apply.
	File         string
	FileRequired bool
	// Env is the environment to read OEMESH_* from (os.Environ() form);
	// nil means none.
	Env []string
	// Flags, when set, override everything; only flags that were set on the
	// command line count. Their names are FlagName(key).
	Flags *pflag.FlagSet
}

// FlagName is the command-line flag for a key: "dns.require_dnssec" →
// "dns-require-dnssec".
func FlagName(key string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(key)
}

// EnvName is the environment variable for a key: "dns.timeout" →
// "OEMESH_DNS_TIMEOUT".
func EnvName(key string) string {
	return "OEMESH_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(key))
}

// AddFlags defines a flag for every key on fs, so that each can be
// overridden from the command line.
func AddFlags(fs *pflag.FlagSet) {
	for _, k := range schema {
		name := FlagName(k.name)
		switch k.kind {
		case kindBool:
			fs.Bool(name, k.def.(bool), k.help)
		case kindDuration:
			fs.Duration(name, k.def.(time.Duration), k.help)
		case kindPort:
			fs.Uint16(name, uint16(k.def.(int)), k.help)
		case kindUint:
			fs.Uint32(name, uint32(k.def.(int)), k.help)
		case kindStringList:
			fs.StringSlice(name, k.def.([]string), k.help)
		default:
			fs.String(name, fmt.Sprint(k.def), k.help)
		}
	}
}

// Keys lists every configuration key with its default, for documentation.
func Keys() []string {
	out := make([]string, 0, len(schema))
	for _, k := range schema {
		out = append(out, k.name)
	}
	return out
}

// Load reads, merges and validates the configuration. Every problem is
// reported, each naming the key and its source.
func Load(opts Options) (*Config, error) {
	v := viper.New()
	var errs []error
	file := ""
	if opts.File != "" {
		ext := strings.TrimPrefix(filepath.Ext(opts.File), ".")
		switch ext {
		case "yaml", "yml", "toml":
		default:
			return nil, fmt.Errorf("config %s: unknown file type %q: use .yaml, .yml or .toml", opts.File, ext)
		}
		v.SetConfigFile(opts.File)
		v.SetConfigType(ext)
		if err := v.ReadInConfig(); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) && errors.Is(err, fs.ErrNotExist) && !opts.FileRequired {
				// defaults only
			} else if errors.As(err, &pe) {
				return nil, fmt.Errorf("config %s: %w", opts.File, pe.Err)
			} else {
				return nil, fmt.Errorf("config %s: %v", opts.File, err)
			}
		} else {
			file = opts.File
		}
	}
	// Where each key is, for the errors (YAML only).
	var lines map[string]int
	if file != "" {
		lines = keyLines(file, strings.TrimPrefix(filepath.Ext(file), "."))
	}
	// Unknown keys in the file: list them all, with a suggestion.
	if file != "" {
		for _, name := range fileKeys(v.AllSettings(), "") {
			if name == "conns" {
				continue // a list of tables, checked by LoadConns
			}
			if _, ok := lookupKey(name); !ok {
				errs = append(errs, fmt.Errorf("config %s: unknown key %q%s%s", file, name, suggest(name), at(file, lines, name)))
			}
		}
	}
	env := map[string]string{}
	for _, kv := range opts.Env {
		if k, val, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OEMESH_") {
			env[k] = val
		}
	}
	for name := range env {
		if !slices.ContainsFunc(schema, func(k key) bool { return EnvName(k.name) == name }) {
			errs = append(errs, fmt.Errorf("environment %s: unknown variable (no such key)", name))
		}
	}

	values := map[string]any{}
	for _, k := range schema {
		raw, src, where := k.def, "default", ""
		if file != "" && v.InConfig(k.name) {
			raw, src, where = v.Get(k.name), "config "+file+": key "+k.name, at(file, lines, k.name)
		}
		if s, ok := env[EnvName(k.name)]; ok {
			raw, src, where = s, "environment "+EnvName(k.name), ""
		}
		if opts.Flags != nil {
			if f := opts.Flags.Lookup(FlagName(k.name)); f != nil && f.Changed {
				raw, src, where = flagValue(opts.Flags, k), "flag --"+FlagName(k.name), ""
			}
		}
		val, err := convert(k, raw)
		if err == nil && k.check != nil {
			err = k.check(val)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w%s", src, err, where))
			continue
		}
		values[k.name] = val
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	c := build(file, values)
	if err := c.Kernel.check(); err != nil {
		return nil, err
	}
	if err := c.DNS.Bindings.check(); err != nil {
		return nil, err
	}
	if err := c.DNS.checkHold(); err != nil {
		return nil, err
	}
	if err := c.OE.check(); err != nil {
		return nil, err
	}
	if err := c.checkGuardNegotiating(); err != nil {
		return nil, err
	}
	if err := c.checkPublish(); err != nil {
		return nil, err
	}
	return c, nil
}

func flagValue(fs *pflag.FlagSet, k key) any {
	name := FlagName(k.name)
	switch k.kind {
	case kindBool:
		b, _ := fs.GetBool(name)
		return b
	case kindDuration:
		d, _ := fs.GetDuration(name)
		return d
	case kindPort:
		p, _ := fs.GetUint16(name)
		return p
	case kindUint:
		n, _ := fs.GetUint32(name)
		return n
	case kindStringList:
		l, _ := fs.GetStringSlice(name)
		return l
	}
	s, _ := fs.GetString(name)
	return s
}

// fileKeys flattens a nested settings map into dotted key names.
func fileKeys(m map[string]any, prefix string) []string {
	var out []string
	for k, v := range m {
		name := prefix + k
		if sub, ok := v.(map[string]any); ok {
			if _, known := lookupKey(name); !known {
				out = append(out, fileKeys(sub, name+".")...)
				continue
			}
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// suggest names a known key close to an unknown one.
func suggest(name string) string {
	best, bestD := "", 4
	for _, k := range schema {
		if d := distance(name, k.name); d < bestD {
			best, bestD = k.name, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance, for suggestions.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func build(file string, v map[string]any) *Config {
	c := &Config{
		File:          file,
		Identity:      v["identity"].(string),
		HostKey:       v["hostkey"].(string),
		Policies:      v["policies"].(string),
		Dataplane:     v["dataplane"].(string),
		IKEPort:       v["ike_port"].(uint16),
		NATTPort:      v["natt_port"].(uint16),
		ControlSocket: v["control_socket"].(string),
		IKE:           IKE{PQ: v["ike.pq"].(string), Limits: ikeLimits(v)},
		Crypto:        Crypto{RSA: v["crypto.rsa"].(string)},
		DNS: DNS{
			Servers:       v["dns.servers"].([]string),
			Timeout:       v["dns.timeout"].(time.Duration),
			RequireDNSSEC: v["dns.require_dnssec"].(bool),
			ExemptServers: v["dns.exempt_servers"].(bool),
			Bindings: DNSBindings{Max: int(v["dns.bindings.max"].(uint32)),
				MinTTL: v["dns.bindings.min_ttl"].(time.Duration), MaxTTL: v["dns.bindings.max_ttl"].(time.Duration)},
			Publish: Publish{
				Name:           v["dns.publish.name"].(string),
				TSIGKey:        v["dns.publish.tsig_key"].(string),
				Primary:        v["dns.publish.primary"].(string),
				Zone:           v["dns.publish.zone"].(string),
				TTL:            v["dns.publish.ttl"].(time.Duration),
				WithdrawOnStop: v["dns.publish.withdraw_on_stop"].(bool),
			},
			Prestart:        v["dns.prestart"].(bool),
			StubEarlyLookup: v["dns.stub.early_lookup"].(bool),
			StubHold:        v["dns.stub.hold"].(time.Duration),
		},
		OE: OE{
			NullAuth:           v["oe.null_auth"].(string),
			NegotiationShunt:   v["oe.negotiation_shunt"].(string),
			ShuntLifetime:      v["oe.shunt_lifetime"].(time.Duration),
			IdleTimeout:        v["oe.idle_timeout"].(time.Duration),
			NegotiationTimeout: v["oe.negotiation_timeout"].(time.Duration),
			ResponderProbe:     v["oe.responder_probe"].(time.Duration),
			IKELifetime:        v["oe.ike_lifetime"].(time.Duration),
			ChildLifetime:      v["oe.child_lifetime"].(time.Duration),
			RekeyFuzz:          mustPercent(v["oe.rekey_fuzz"].(string)),
			Cert:               v["oe.cert"].(string),
			CertKey:            v["oe.cert_key"].(string),
			CertAnswer:         v["oe.cert_answer"].(string),
			AddressPool:        v["oe.address_pool"].([]string),
			TrustCertificates:  v["oe.trust_certificates"].(string),
			TrustCA:            v["oe.trust_ca"].(string),
		},
		Kernel: Kernel{
			FailClosed:        v["kernel.fail_closed"].(bool),
			GuardNegotiating:  v["kernel.guard_negotiating"].(bool),
			HoldFirstPackets:  v["kernel.hold_first_packets"].(bool),
			CipherIdle:        v["kernel.cipher_idle"].(time.Duration),
			Offloads:          v["kernel.offloads"].(bool),
			UDPEncap:          v["kernel.udp_encap"].(string),
			Table:             v["kernel.table"].(uint32),
			RulePriority:      v["kernel.rule_priority"].(uint32),
			GuardTable:        v["kernel.guard_table"].(uint32),
			GuardRulePriority: v["kernel.guard_priority"].(uint32),
		},
		Log:     Log{Format: v["log.format"].(string)},
		Metrics: Metrics{Listen: v["metrics.listen"].(string)},
		Certs: Certs{CRLs: v["certs.crls"].([]string), OCSP: v["certs.ocsp"].(string),
			OCSPTimeout: v["certs.ocsp_timeout"].(time.Duration)},
	}
	_ = c.Log.Level.UnmarshalText([]byte(v["log.level"].(string)))
	for _, r := range v["dns.publish.records"].([]string) {
		switch r {
		case "reverse":
			c.DNS.Publish.Reverse = true
		case "forward":
			c.DNS.Publish.Forward = true
		case "address":
			c.DNS.Publish.Address = true
		}
	}
	for _, s := range v["dns.publish.addresses"].([]string) {
		c.DNS.Publish.Addresses = append(c.DNS.Publish.Addresses, netip.MustParseAddr(s))
	}
	if l := v["dns.stub.listen"].(string); l != "off" {
		c.DNS.StubListen = netip.MustParseAddrPort(l)
	}
	for _, s := range v["oe.gateway_for"].([]string) {
		c.OE.GatewayFor = append(c.OE.GatewayFor, netip.MustParsePrefix(s))
	}
	if l := v["listen"].([]string); !(len(l) == 1 && l[0] == "all") {
		for _, s := range l {
			c.Listen = append(c.Listen, netip.MustParseAddr(s))
		}
	}
	return c
}

// Summary is what `oemesh status` shows of the configuration.
func (c *Config) Summary() map[string]any {
	listen := []string{"all"}
	if len(c.Listen) > 0 {
		listen = listen[:0]
		for _, a := range c.Listen {
			listen = append(listen, a.String())
		}
	}
	file := c.File
	if file == "" {
		file = "(none: defaults)"
	}
	sum := map[string]any{
		"file":                      file,
		"identity":                  c.Identity,
		"hostkey":                   c.HostKey,
		"policies":                  c.Policies,
		"dataplane":                 c.Dataplane,
		"listen":                    listen,
		"ike_port":                  c.IKEPort,
		"natt_port":                 c.NATTPort,
		"ike.pq":                    c.IKE.PQ,
		"crypto.rsa":                c.Crypto.RSA,
		"dns.servers":               c.DNS.Servers,
		"dns.timeout":               c.DNS.Timeout.String(),
		"dns.require_dnssec":        c.DNS.RequireDNSSEC,
		"dns.exempt_servers":        c.DNS.ExemptServers,
		"dns.bindings.max":          c.DNS.Bindings.Max,
		"dns.bindings.min_ttl":      c.DNS.Bindings.MinTTL.String(),
		"dns.bindings.max_ttl":      c.DNS.Bindings.MaxTTL.String(),
		"dns.publish.records":       c.DNS.Publish.records(),
		"dns.publish.tsig_key":      c.DNS.Publish.TSIGKey,
		"dns.publish.primary":       c.DNS.Publish.Primary,
		"dns.stub.listen":           stubSummary(c.DNS.StubListen),
		"dns.prestart":              c.DNS.Prestart,
		"dns.stub.early_lookup":     c.DNS.StubEarlyLookup,
		"dns.stub.hold":             c.DNS.StubHold.String(),
		"oe.null_auth":              c.OE.NullAuth,
		"oe.negotiation_shunt":      c.OE.NegotiationShunt,
		"oe.shunt_lifetime":         c.OE.ShuntLifetime.String(),
		"oe.idle_timeout":           c.OE.IdleTimeout.String(),
		"oe.negotiation_timeout":    c.OE.NegotiationTimeout.String(),
		"oe.responder_probe":        c.OE.ResponderProbe.String(),
		"oe.cert":                   c.OE.Cert,
		"oe.cert_answer":            c.OE.CertAnswer,
		"oe.address_pool":           c.OE.AddressPool,
		"oe.trust_certificates":     c.OE.TrustCertificates,
		"oe.trust_ca":               c.OE.TrustCA,
		"kernel.fail_closed":        c.Kernel.FailClosed,
		"kernel.guard_negotiating":  c.Kernel.GuardNegotiating,
		"kernel.hold_first_packets": c.Kernel.HoldFirstPackets,
		"kernel.cipher_idle":        c.Kernel.CipherIdle.String(),
		"kernel.offloads":           c.Kernel.Offloads,
		"kernel.udp_encap":          c.Kernel.UDPEncap,
		"kernel.table":              c.Kernel.Table,
		"kernel.rule_priority":      c.Kernel.RulePriority,
		"kernel.guard_table":        c.Kernel.GuardTable,
		"kernel.guard_priority":     c.Kernel.GuardRulePriority,
		"control_socket":            c.ControlSocket,
		"log.level":                 c.Log.Level.String(),
		"log.format":                c.Log.Format,
		"metrics.listen":            c.Metrics.Listen,
		"certs.crls":                c.Certs.CRLs,
		"certs.ocsp":                c.Certs.OCSP,
	}
	for k, v := range c.IKE.Limits.summary() {
		sum[k] = v
	}
	return sum
}

func stubSummary(ap netip.AddrPort) string {
	if !ap.IsValid() {
		return "off"
	}
	return ap.String()
}

// checkGuardNegotiating refuses kernel.guard_negotiating with
// oe.negotiation_shunt pass: pass sends a private-or-clear flow in clear
// while it negotiates, so there is nothing to keep blocked across a crash
// (private flows are held either way, under a guard blackhole already).
// The two together say opposite things; the operator must choose.
func (c *Config) checkGuardNegotiating() error {
	if c.Kernel.GuardNegotiating && c.OE.NegotiationShunt == "pass" {
		return errors.New("kernel.guard_negotiating keeps a negotiating flow blocked if oemeshd dies, but oe.negotiation_shunt pass sends it in clear while it negotiates: set oe.negotiation_shunt to hold, or kernel.guard_negotiating to false")
	}
	return nil
}

func (p Publish) records() []string {
	out := []string{}
	for _, r := range []struct {
		on   bool
		name string
	}{{p.Reverse, "reverse"}, {p.Forward, "forward"}, {p.Address, "address"}} {
		if r.on {
			out = append(out, r.name)
		}
	}
	return out
}

// checkPublish refuses a dns.publish.records that names what the rest of
// the configuration cannot supply: a forward name, or addresses.
func (c *Config) checkPublish() error {
	p := c.DNS.Publish
	if (p.Forward || p.Address) && p.Name == "" && !strings.HasPrefix(c.Identity, "@") {
		return fmt.Errorf("dns.publish.records %v needs the host's forward name: set dns.publish.name, or an @fqdn identity", p.records())
	}
	if (p.Reverse || p.Address) && len(p.Addresses) == 0 {
		if _, err := netip.ParseAddr(c.Identity); err != nil {
			return fmt.Errorf("dns.publish.records %v needs the host's addresses: set dns.publish.addresses, or an address identity", p.records())
		}
	}
	return nil
}

// mustPercent reads a percentage the schema's check has accepted.
func mustPercent(s string) float64 {
	f, err := ParsePercent(s)
	if err != nil {
		panic("config: oe.rekey_fuzz passed its check but does not parse: " + err.Error())
	}
	return f
}
