package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// kind is the type of a configuration value.
type kind int

const (
	kindString kind = iota
	kindBool
	kindDuration
	kindPort
	kindStringList
	kindUint // uint32
)

// key is one configuration key: its name, type, default, help and check.
type key struct {
	name  string
	kind  kind
	def   any
	help  string
	check func(v any) error // nil: any value of the kind is fine
}

func oneOf(values ...string) func(any) error {
	return func(v any) error {
		s := v.(string)
		for _, ok := range values {
			if s == ok {
				return nil
			}
		}
		return fmt.Errorf("must be one of %s", strings.Join(values, ", "))
	}
}

// ParsePercent reads a percentage from 0% to 100% as a fraction.
func ParsePercent(s string) (float64, error) {
	n, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || !strings.HasSuffix(s, "%") || n < 0 || n > 100 {
		return 0, fmt.Errorf("must be a percentage from 0%% to 100%%, as 50%%")
	}
	return n / 100, nil
}

func percent(v any) error {
	_, err := ParsePercent(v.(string))
	return err
}

func positive(v any) error {
	if v.(time.Duration) <= 0 {
		return fmt.Errorf("must be greater than zero")
	}
	return nil
}

func nonNegative(v any) error {
	if v.(time.Duration) < 0 {
		return fmt.Errorf("must not be negative (0s turns it off)")
	}
	return nil
}

func atLeastOne(v any) error {
	if v.(uint32) < 1 {
		return fmt.Errorf("must be at least 1")
	}
	return nil
}

func absPath(v any) error {
	if s := v.(string); !strings.HasPrefix(s, "/") {
		return fmt.Errorf("must be an absolute path")
	}
	return nil
}

// optionalAbsPath is an absolute path, or empty for "not set".
func optionalAbsPath(v any) error {
	if s := v.(string); s != "" && !strings.HasPrefix(s, "/") {
		return fmt.Errorf("must be an absolute path, or empty")
	}
	return nil
}

// poolRanges checks the shape of oe.address_pool's entries as ike/addrpool
// reads them (FIRST-LAST, a prefix, or one address); what the shapes
// leave open (families, order, usable addresses) addrpool.Parse checks
// when oemeshd builds the pool.
func poolRanges(v any) error {
	for _, s := range v.([]string) {
		if first, last, ok := strings.Cut(s, "-"); ok {
			if _, err := netip.ParseAddr(strings.TrimSpace(first)); err != nil {
				return fmt.Errorf("%q: the first address %q is not an IP address", s, first)
			}
			if _, err := netip.ParseAddr(strings.TrimSpace(last)); err != nil {
				return fmt.Errorf("%q: the last address %q is not an IP address", s, last)
			}
			continue
		}
		if strings.Contains(s, "/") {
			if _, err := netip.ParsePrefix(strings.TrimSpace(s)); err != nil {
				return fmt.Errorf("%q is not a CIDR prefix", s)
			}
			continue
		}
		if _, err := netip.ParseAddr(strings.TrimSpace(s)); err != nil {
			return fmt.Errorf("%q: want FIRST-LAST (100.64.0.1-100.64.0.254), a prefix (100.64.0.0/24) or an address", s)
		}
	}
	return nil
}

func identity(v any) error {
	s := v.(string)
	switch {
	case s == "":
		return nil
	case strings.HasPrefix(s, "@"):
		if len(s) < 2 || strings.ContainsAny(s, " \t/") {
			return fmt.Errorf("an @fqdn identity needs a host name after the @")
		}
		return nil
	}
	if _, err := netip.ParseAddr(s); err != nil {
		return fmt.Errorf("must be an IP address or @fqdn (empty: the address of the default-route interface)")
	}
	return nil
}

func listenAddrs(v any) error {
	l := v.([]string)
	if len(l) == 1 && l[0] == "all" {
		return nil
	}
	for _, s := range l {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("%q is not an IP address (use \"all\" or a list of addresses)", s)
		}
	}
	return nil
}

func prefixes(v any) error {
	for _, s := range v.([]string) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%q is not a CIDR prefix", s)
		}
		if p.Masked() != p {
			return fmt.Errorf("%q has host bits set; did you mean %s?", s, p.Masked())
		}
	}
	return nil
}

func dnsServers(v any) error {
	for _, s := range v.([]string) {
		if strings.HasPrefix(s, "/") {
			continue // a resolv.conf-style file
		}
		if _, err := netip.ParseAddrPort(s); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(s); err == nil {
			continue
		}
		return fmt.Errorf("%q is neither an address, an address:port nor a resolv.conf path", s)
	}
	return nil
}

func publishRecords(v any) error {
	seen := map[string]bool{}
	for _, s := range v.([]string) {
		switch s {
		case "reverse", "forward", "address":
		default:
			return fmt.Errorf("%q: want reverse, forward or address", s)
		}
		if seen[s] {
			return fmt.Errorf("%q listed twice", s)
		}
		seen[s] = true
	}
	return nil
}

func domainName(v any) error {
	s := v.(string)
	if s == "" {
		return nil
	}
	if strings.HasPrefix(s, "@") || strings.ContainsAny(s, " \t/:") || strings.Contains(s, "..") || s == "." {
		return fmt.Errorf("%q is not a domain name (write b.example.com, without @)", s)
	}
	return nil
}

func addresses(v any) error {
	for _, s := range v.([]string) {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("%q is not an IP address", s)
		}
	}
	return nil
}

func primaryServer(v any) error {
	s := v.(string)
	if s == "" {
		return nil
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	if _, port, err := net.SplitHostPort(s); err != nil || port == "" {
		return fmt.Errorf("%q: want ADDRESS or HOST:PORT", s)
	}
	return nil
}

func wholeSeconds(v any) error {
	d := v.(time.Duration)
	if d < time.Second || d%time.Second != 0 || d > 0x7fffffff*time.Second {
		return fmt.Errorf("%v: a DNS TTL is a whole number of seconds from 1s", d)
	}
	return nil
}

// maxStubHold bounds dns.stub.hold: an application waits this long for
// its DNS answer at worst, and resolvers give up on a server after a few
// seconds.
const maxStubHold = 5 * time.Second

// stubHold is dns.stub.hold: 0 (off) up to maxStubHold.
func stubHold(v any) error {
	d := v.(time.Duration)
	if d < 0 {
		return fmt.Errorf("must not be negative (0s turns it off)")
	}
	if d > maxStubHold {
		return fmt.Errorf("%v holds answers longer than applications wait for them; at most %v", d, maxStubHold)
	}
	return nil
}

// stubListen is dns.stub.listen: off, or the address and port the DNS stub
// serves on. The port is required: the stub usually shares an address
// with nothing, but 53 must be written to be meant.
func stubListen(v any) error {
	s := v.(string)
	if s == "off" {
		return nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return fmt.Errorf("must be off or ADDRESS:PORT, e.g. 127.0.0.53:53 (%q is neither)", s)
	}
	if ap.Port() == 0 {
		return fmt.Errorf("port 0: applications must know where the stub is; use 53")
	}
	return nil
}

func logLevel(v any) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(v.(string))); err != nil {
		return fmt.Errorf("must be debug, info, warn or error")
	}
	return nil
}

// routeTable refuses 0 and the tables the kernel reserves.
func routeTable(v any) error {
	switch t := v.(uint32); {
	case t == 0:
		return fmt.Errorf("must be a routing table number from 1")
	case t >= 253 && t <= 255:
		return fmt.Errorf("%d is the kernel's own table (253 default, 254 main, 255 local); choose another", t)
	}
	return nil
}

// rulePriority keeps ip rules before main's (32766).
func rulePriority(v any) error {
	if p := v.(uint32); p < 1 || p >= 32766 {
		return fmt.Errorf("must be 1-32765: a rule at 32766 or later comes after the main table's")
	}
	return nil
}

func metricsListen(v any) error {
	s := v.(string)
	if s == "off" || s == "" {
		return nil
	}
	if _, err := netip.ParseAddrPort(s); err != nil {
		return fmt.Errorf("must be off or ADDRESS:PORT, e.g. 127.0.0.1:9542")
	}
	return nil
}

// schema is every key oemeshd accepts.
var schema = []key{
	{name: "identity", kind: kindString, def: "", check: identity,
		help: "our IKE identity: an IP address or @fqdn (empty: the address of the default-route interface)"},
	{name: "hostkey", kind: kindString, def: "/etc/oemesh/hostkey.pem", check: absPath, help: "private host key (PKCS#8 PEM)"},
	{name: "policies", kind: kindString, def: "/etc/ipsec.d/policies", check: absPath, help: "directory of the policy group files"},
	{name: "dataplane", kind: kindString, def: "auto", check: oneOf("auto", "xfrm", "userspace"),
		help: "data plane: auto, xfrm (kernel ESP) or userspace (ESP over TUN)"},
	{name: "listen", kind: kindStringList, def: []string{"all"}, check: listenAddrs, help: "addresses IKE listens on, or all"},
	{name: "ike_port", kind: kindPort, def: 500, help: "IKE UDP port"},
	{name: "natt_port", kind: kindPort, def: 4500, help: "NAT-T UDP port"},
	{name: "ike.pq", kind: kindString, def: "prefer", check: oneOf("prefer", "require", "off"),
		help: "post-quantum hybrid key exchange (X25519 + ML-KEM-768, RFC 9370) in the default IKE proposals: prefer (classical with peers that cannot), require (no tunnel without it) or off"},
	{name: "ike.limits.null_sas", kind: kindUint, def: 8192,
		help: "most IKE SAs of peers that authenticated with NULL at once; over it the one idle longest is deleted, or the new one refused (0: no limit)"},
	{name: "ike.limits.null_sas_per_source", kind: kindUint, def: 32,
		help: "most NULL-authenticated IKE SAs from one IPv4 address or IPv6 /64 (0: no limit)"},
	{name: "ike.limits.null_idle", kind: kindDuration, def: time.Minute, check: positive,
		help: "how long a NULL-authenticated IKE SA must have carried nothing (IKE requests, ESP) to be deleted for a new one over a limit"},
	{name: "ike.limits.cookie_threshold", kind: kindUint, def: 64, check: atLeastOne,
		help: "half-open IKE SAs at which IKE_SA_INIT requests must bring a cookie (RFC 7296 §2.6); the half-open limit is 4096"},
	{name: "ike.limits.early_cookie_check", kind: kindBool, def: true,
		help: "while cookies are demanded, check an IKE_SA_INIT request's cookie before parsing the rest of it (false only to measure what the check is worth)"},
	{name: "ike.limits.cookies_per_source", kind: kindUint, def: 20,
		help: "cookie demands per second one source (IPv4 address, IPv6 /64) gets while cookies are demanded; more are dropped (drop reason rate_limited); 0: no limit"},
	{name: "ike.limits.cookie_burst_per_source", kind: kindUint, def: 100, check: atLeastOne,
		help: "cookie demands one source may get at once before cookies_per_source applies"},
	{name: "ike.limits.busy_half_open_timeout", kind: kindDuration, def: 5 * time.Second, check: nonNegative,
		help: "how long a half-open IKE SA may stay while cookie mode is on (0s: the full 30 s always)"},
	{name: "ike.limits.read_batch", kind: kindUint, def: 32, check: atLeastOne,
		help: "IKE datagrams one read of the IKE port (500) takes (recvmmsg)"},
	{name: "ike.limits.work_queue", kind: kindUint, def: 256,
		help: "IKE_SA_INIT requests without a cookie that may wait for the engine; more are dropped (overloaded), and everything else goes first. 0: no queues, the socket reader runs the engine itself"},
	{name: "crypto.rsa", kind: kindString, def: "auto", check: oneOf("auto", "go", "openssl"),
		help: "what signs with RSA private keys (the host key, conns' and oe.cert's keys): auto (OpenSSL's libcrypto when it loads, else Go's crypto/rsa), go, or openssl (refuse to start without it); OpenSSL signs RSA-2048 about 4 times faster"},
	{name: "dns.servers", kind: kindStringList, def: []string{"/etc/resolv.conf"}, check: dnsServers,
		help: "DNS servers (address[:port]) or resolv.conf files"},
	{name: "dns.timeout", kind: kindDuration, def: 2 * time.Second, check: positive, help: "per-query DNS timeout"},
	{name: "dns.require_dnssec", kind: kindBool, def: true, help: "use only DNSSEC-validated (AD) answers"},
	{name: "dns.exempt_servers", kind: kindBool, def: true,
		help: "take the DNS servers oemeshd asks, and dns.publish.primary when it is an address, out of OE (clear to them), so that its look-ups and UPDATEs never wait for a negotiation that needs them"},
	{name: "dns.bindings.max", kind: kindUint, def: 10000, check: atLeastOne,
		help: "addresses remembered under the forward name they were looked up by (the stub, `oemesh dns hook`); beyond it the least recently used is forgotten"},
	{name: "dns.bindings.min_ttl", kind: kindDuration, def: 30 * time.Second, check: positive,
		help: "shortest life of an address → name binding, whatever the answer's TTL"},
	{name: "dns.bindings.max_ttl", kind: kindDuration, def: time.Hour, check: positive,
		help: "longest life of an address → name binding, whatever the answer's TTL"},
	{name: "dns.publish.records", kind: kindStringList, def: []string{}, check: publishRecords,
		help: "what oemeshd publishes about this host by DNS UPDATE: any of reverse (IPSECKEY at the reverse names), forward (IPSECKEY at dns.publish.name), address (A/AAAA at dns.publish.name); empty: nothing"},
	{name: "dns.publish.name", kind: kindString, def: "", check: domainName,
		help: "the host's forward name (empty: the @fqdn identity)"},
	{name: "dns.publish.addresses", kind: kindStringList, def: []string{}, check: addresses,
		help: "the host's addresses for the reverse names and A/AAAA (empty: the address identity)"},
	{name: "dns.publish.tsig_key", kind: kindString, def: "/etc/oemesh/tsig.key", check: absPath,
		help: "TSIG key file (mode 0600): key \"name\" { algorithm hmac-sha256; secret \"...\"; }; or ALGORITHM:NAME:SECRET"},
	{name: "dns.publish.primary", kind: kindString, def: "", check: primaryServer,
		help: "where UPDATEs go: ADDRESS or HOST:PORT (empty: each zone's primary from its SOA)"},
	{name: "dns.publish.zone", kind: kindString, def: "", check: domainName,
		help: "the zone the records are in (empty: found by SOA look-ups)"},
	{name: "dns.publish.ttl", kind: kindDuration, def: 10 * time.Minute, check: wholeSeconds,
		help: "TTL of the published records; a key rollover keeps both keys published this long"},
	{name: "dns.publish.withdraw_on_stop", kind: kindBool, def: false,
		help: "delete our published records when oemeshd stops cleanly"},
	{name: "dns.stub.listen", kind: kindString, def: "off", check: stubListen,
		help: "the DNS stub: off, or ADDRESS:PORT (e.g. 127.0.0.53:53) to serve applications, forwarding to dns.servers and looking up keys at the names they resolve (docs/dns-stub.md)"},
	{name: "dns.stub.early_lookup", kind: kindBool, def: true,
		help: "with the DNS stub on: look up the keys at the name of an A/AAAA query while the query is upstream, not after the answer (faster prestarts; one wasted look-up per name whose answer is in no OE group, counted as dns_stub_early_wasted)"},
	{name: "dns.stub.hold", kind: kindDuration, def: time.Duration(0), check: stubHold,
		help: "with the DNS stub and dns.prestart on: hold an answer with addresses in an OE group until their prestarted negotiations are up or failed, at most this long, so that the first packet finds its tunnel (the wait moves to the DNS answer; docs/dns-stub.md); 0s: never hold"},
	{name: "dns.prestart", kind: kindBool, def: true,
		help: "with the DNS stub on: start OE to the addresses of a name in an OE group as soon as its answer passes, before the first packet"},
	{name: "oe.null_auth", kind: kindString, def: "fallback", check: oneOf("fallback", "off", "only"),
		help: "unauthenticated OE (RFC 7619): fallback, off or only"},
	{name: "oe.cert", kind: kindString, def: "", check: optionalAbsPath,
		help: "certificate OE server: our certificate (PEM), followed by the intermediates to send with it; NULL-authenticated OE initiators that ask for a certificate get it (docs/certificate-oe.md); empty: none"},
	{name: "oe.cert_key", kind: kindString, def: "", check: optionalAbsPath,
		help: "the private key (PKCS#8, PKCS#1 or SEC 1 PEM, mode 0600) of oe.cert"},
	{name: "oe.cert_answer", kind: kindString, def: "ifasked", check: oneOf("ifasked", "always"),
		help: "which NULL-authenticated OE initiators get oe.cert rather than the host key's signature: ifasked (those that send a CERTREQ), always (every one, for Libreswan's certificate OE client, which sends none; DNS OE clients of this host then get the certificate too, and fail unless they accept it) (docs/certificate-oe.md)"},
	{name: "oe.address_pool", kind: kindStringList, def: []string{}, check: poolRanges,
		help: "addresses leased to OE initiators that ask for one (modecfg, CP CFG_REQUEST): FIRST-LAST, a prefix or an address; empty: none"},
	{name: "oe.trust_certificates", kind: kindString, def: "off", check: oneOf("off", "webpki", "ca-file"),
		help: "certificate OE client: a destination without a key in DNS may authenticate with a certificate that names it (its DNS name from the stub, else its address), issued by: off (never: NULL OE as oe.null_auth says), webpki (the system's roots), ca-file (oe.trust_ca) (docs/certificate-oe.md)"},
	{name: "oe.trust_ca", kind: kindString, def: "", check: optionalAbsPath,
		help: "the CA bundle of oe.trust_certificates ca-file: a PEM file, or a directory of PEM or DER CA certificates; refused otherwise"},
	{name: "oe.negotiation_shunt", kind: kindString, def: "hold", check: oneOf("hold", "pass"),
		help: "what traffic does while OE negotiates: hold or pass (pass: private-or-clear only; private is always held)"},
	{name: "oe.shunt_lifetime", kind: kindDuration, def: 15 * time.Minute, check: positive, help: "lifetime of failure shunts"},
	{name: "oe.idle_timeout", kind: kindDuration, def: 10 * time.Minute, check: positive, help: "delete OE tunnels idle this long"},
	{name: "oe.negotiation_timeout", kind: kindDuration, def: 30 * time.Second, check: positive,
		help: "bound on one OE attempt, DNS and IKE together; then the failure shunt"},
	{name: "oe.responder_probe", kind: kindDuration, def: 5 * time.Second, check: nonNegative,
		help: "a tunnel we answered that has received nothing this long makes us check its peer is alive (0s: off)"},
	{name: "oe.ike_lifetime", kind: kindDuration, def: 4 * time.Hour, check: positive,
		help: "IKE SA lifetime; rekeyed a tenth of it before"},
	{name: "oe.child_lifetime", kind: kindDuration, def: time.Hour, check: positive,
		help: "CHILD SA (ESP) lifetime; rekeyed a tenth of it before"},
	{name: "oe.rekey_fuzz", kind: kindString, def: "50%", check: percent,
		help: "each SA rekeys earlier than a tenth of its lifetime by a random part of up to this much of that tenth (0% to 100%), so SAs made together do not rekey together (RFC 7296 §2.8); 0%: no fuzz"},
	{name: "oe.gateway_for", kind: kindStringList, def: []string{}, check: prefixes,
		help: "client networks this host is the IPsec gateway for (their DNS records name it)"},
	{name: "kernel.fail_closed", kind: kindBool, def: false, help: "keep private and block prefixes blocked after a clean stop (a crash never opens them)"},
	{name: "kernel.guard_negotiating", kind: kindBool, def: false,
		help: "userspace data plane: also block each destination in the fail-closed guard while its flow is held for a negotiation, so a crash mid-negotiation lets nothing out in clear (xfrm: no effect, its traps already drop)"},
	{name: "kernel.hold_first_packets", kind: kindBool, def: true,
		help: "queue packets while a flow negotiates (sets net.core.xfrm_larval_drop=0)"},
	{name: "kernel.cipher_idle", kind: kindDuration, def: 30 * time.Second, check: positive,
		help: "userspace data plane: an SA direction idle this long lets its cipher state go (the next packet rebuilds it)"},
	{name: "kernel.offloads", kind: kindBool, def: true,
		help: "userspace data plane: TUN offloads (TSO in, GRO out, batched reads and writes); false opens a plain TUN device, one packet per read and write"},
	{name: "kernel.udp_encap", kind: kindString, def: "auto", check: oneOf("auto", "always", "never"),
		help: "UDP-encapsulate ESP (port 4500) with peers that support NAT traversal even without a NAT: always, never (only behind a NAT, RFC 7296) or auto (always on the userspace data plane, whose UDP GSO/GRO fast path raw ESP cannot use; never on xfrm)"},
	{name: "kernel.table", kind: kindUint, def: 4322, check: routeTable,
		help: "userspace data plane: the routing table of its trap routes (flushed at start and on a clean stop)"},
	{name: "kernel.rule_priority", kind: kindUint, def: 4322, check: rulePriority,
		help: "userspace data plane: the priority of the ip rules that look up kernel.table"},
	{name: "kernel.guard_table", kind: kindUint, def: 4323, check: routeTable,
		help: "userspace data plane: the fail-closed guard's routing table (outlives the daemon; see docs/failclosed.md)"},
	{name: "kernel.guard_priority", kind: kindUint, def: 4323, check: rulePriority,
		help: "userspace data plane: the priority of the guard's ip rules, after kernel.rule_priority and before main (32766)"},
	{name: "control_socket", kind: kindString, def: "/run/oemesh/oemeshd.sock", check: absPath, help: "control API unix socket"},
	{name: "log.level", kind: kindString, def: "info", check: logLevel, help: "log level: debug, info, warn or error"},
	{name: "log.format", kind: kindString, def: "text", check: oneOf("text", "json"), help: "log format: text or json"},
	{name: "metrics.listen", kind: kindString, def: "off", check: metricsListen, help: "Prometheus metrics address, or off"},
	{name: "certs.crls", kind: kindStringList, def: []string{}, check: absPaths,
		help: "CRL files (PEM or DER), or directories of them such as /etc/ipsec.d/crls, consulted for every peer certificate oemeshd verifies (cert conns, with each conn's own crl:); read again on SIGHUP; empty: none"},
	{name: "certs.ocsp", kind: kindString, def: "off", check: oneOf("off", "soft", "hard"),
		help: "OCSP for peer certificates that name a responder, where a conn sets no ocsp: of its own: off, soft (refuse a revoked certificate, accept one whose responder does not answer) or hard (refuse that too)"},
	{name: "certs.ocsp_timeout", kind: kindDuration, def: 5 * time.Second, check: positive,
		help: "bound on one OCSP request; then soft accepts and hard refuses"},
}

func lookupKey(name string) (key, bool) {
	for _, k := range schema {
		if k.name == name {
			return k, true
		}
	}
	return key{}, false
}

// convert turns a raw value (from YAML, TOML, an environment variable or a
// flag) into the key's Go type, strictly: 5 is not a duration, "yes" is not
// a bool.
func convert(k key, raw any) (any, error) {
	switch k.kind {
	case kindString:
		s, ok := raw.(string)
		if !ok {
			return nil, fmt.Errorf("want a string, got %s", describeType(raw))
		}
		return s, nil
	case kindBool:
		switch v := raw.(type) {
		case bool:
			return v, nil
		case string:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("want true or false, got %q", v)
			}
			return b, nil
		}
		return nil, fmt.Errorf("want true or false, got %s", describeType(raw))
	case kindDuration:
		switch v := raw.(type) {
		case time.Duration:
			return v, nil
		case string:
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("want a duration such as 2s or 15m, got %q", v)
			}
			return d, nil
		}
		return nil, fmt.Errorf("want a duration with a unit, such as 2s or 15m, got %s", describeType(raw))
	case kindPort:
		n, err := wholeNumber(raw, "a port number")
		if err != nil {
			return nil, err
		}
		if n < 1 || n > 65535 {
			return nil, fmt.Errorf("port %d out of range 1-65535", n)
		}
		return uint16(n), nil
	case kindUint:
		n, err := wholeNumber(raw, "a whole number")
		if err != nil {
			return nil, err
		}
		if n < 0 || n > 0xffffffff {
			return nil, fmt.Errorf("%d out of range 0-4294967295", n)
		}
		return uint32(n), nil
	case kindStringList:
		switch v := raw.(type) {
		case []string:
			return v, nil
		case string:
			return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }), nil
		case []any:
			out := make([]string, 0, len(v))
			for i, e := range v {
				s, ok := e.(string)
				if !ok {
					return nil, fmt.Errorf("item %d: want a string, got %s", i+1, describeType(e))
				}
				out = append(out, s)
			}
			return out, nil
		}
		return nil, fmt.Errorf("want a list of strings, got %s", describeType(raw))
	}
	return nil, fmt.Errorf("internal: unknown kind %d", k.kind)
}

func describeType(v any) string {
	switch v := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the string %q", v)
	case bool:
		return fmt.Sprintf("the boolean %v", v)
	case int, int64, uint64, float64:
		return fmt.Sprintf("the number %v", v)
	case []any:
		return "a list"
	case map[string]any:
		return "a table of keys"
	}
	return fmt.Sprintf("%T", v)
}

// wholeNumber reads an integer from what YAML, TOML, the environment or a
// flag gave (want names it in errors); the caller checks its range.
func wholeNumber(raw any, want string) (int64, error) {
	switch v := raw.(type) {
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case uint16:
		return int64(v), nil
	case uint32:
		return int64(v), nil
	case float64:
		if v != float64(int64(v)) {
			return 0, fmt.Errorf("want %s, got %v", want, v)
		}
		return int64(v), nil
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("want %s, got %q", want, v)
		}
		return n, nil
	}
	return 0, fmt.Errorf("want %s, got %s", want, describeType(raw))
}
