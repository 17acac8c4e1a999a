package peers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// KnotZone is a forward zone served by knotd, signed by knot itself (automatic DNSSEC,
// ECDSA P-256), that accepts DNS UPDATEs signed with a TSIG key. There is no reverse zone.
type KnotZone struct {
	Zone string // "example."
	// Addr is where knotd answers (HOST:PORT, inside the namespace).
	Addr string
	// KeyName, KeyAlgorithm and KeySecret are the TSIG key the ACL allows to update.
	KeyName, KeyAlgorithm, KeySecret string
	// DS is the zone's trust anchor (its KSK's DS records, one per line).
	DS string
	// Resolver is the validating unbound in front of knotd (HOST:PORT): its answers for the
	// zone carry AD=1.
	Resolver string

	dir  string
	ip   string // ip(8)
	ns   string
	conf string
}

// KnotOptions are the zone's contents; the zero value serves an empty zone.
type KnotOptions struct {
	// Records are zone-file lines relative to the origin; SOA and NS are added (the SOA's
	// MNAME is ns.<zone>, with an A record for knotd's address).
	Records string
	// TTL of the SOA (the negative-caching TTL too) and of the added records; default 60.
	TTL int
	// Addr is where knotd listens (port 53) inside the namespace; default 127.0.0.1. The
	// zone's SOA names ns.<zone> as its primary, with an A or AAAA record of Addr, so a
	// client that finds the primary by the SOA (dns.publish) reaches knotd.
	Addr netip.Addr
	// ResolverAddr is where unbound listens (port 53); default 127.0.0.2. It must differ
	// from Addr, since both use port 53.
	ResolverAddr netip.Addr
	// ResolverClients may query unbound; default 127.0.0.0/8 only.
	ResolverClients []netip.Prefix
	// Unsigned are child zones that the same knotd serves without DNSSEC, delegated from
	// the zone without a DS record: an insecure delegation, which a validating resolver
	// proves unsigned (its answers carry no AD bit). Keys are the child's label ("lab"
	// for lab.<zone>), values its zone-file lines relative to the child's origin (SOA and
	// NS are added).
	Unsigned map[string]string
}

// defaultKnotAddr and defaultUnboundAddr are where the two servers listen inside the
// namespace unless told otherwise: both on loopback, on different addresses, so that
// each can use port 53.
var (
	defaultKnotAddr    = netip.MustParseAddr("127.0.0.1")
	defaultUnboundAddr = netip.MustParseAddr("127.0.0.2")
)

// withDefaults fills in the zero fields.
func (o KnotOptions) withDefaults() KnotOptions {
	if o.TTL == 0 {
		o.TTL = 60
	}
	if !o.Addr.IsValid() {
		o.Addr = defaultKnotAddr
	}
	if !o.ResolverAddr.IsValid() {
		o.ResolverAddr = defaultUnboundAddr
	}
	if len(o.ResolverClients) == 0 {
		o.ResolverClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	return o
}

// zoneFile is the text of a zone file for origin: SOA and NS (ns.<apex>, at addr) first,
// then records.
func zoneFile(origin, apex string, ttl int, addr netip.Addr, records string) string {
	rtype := "A"
	if addr.Is6() {
		rtype = "AAAA"
	}
	return fmt.Sprintf("$ORIGIN %s\n$TTL %d\n@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 %d\n@ IN NS ns.%s\n%s\n",
		origin, ttl, apex, apex, ttl, apex, records) + nsGlue(origin, apex, rtype, addr)
}

// nsGlue is the address record of ns.<apex> when it lies in origin's zone.
func nsGlue(origin, apex, rtype string, addr netip.Addr) string {
	if origin != apex {
		return ""
	}
	return fmt.Sprintf("ns.%s IN %s %s\n", apex, rtype, addr)
}

// ServeKnotZone starts knotd in namespace ns serving zone (e.g. "example.") signed by knot,
// with an ACL that lets a fresh TSIG key (hmac-sha256) update it, and a validating unbound
// (trust anchor: the zone's DS) in front of it. Both stop when the test ends. in may be
// nil: the test beds that need no other peer (internal/lab's mesh) take ip(8) from PATH.
func ServeKnotZone(t testing.TB, in *Install, ns, zone string, opts KnotOptions) *KnotZone {
	t.Helper()
	for _, tool := range []string{"knotd", "knotc", "keymgr", "unbound"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run `make deps` (scripts/apt-packages.txt lists knot and unbound)", tool)
		}
	}
	opts = opts.withDefaults()
	if opts.Addr == opts.ResolverAddr {
		t.Fatalf("knotd and unbound both on %s: give them different addresses", opts.Addr)
	}
	zone = strings.TrimSuffix(zone, ".") + "."
	dir, err := instanceDir(t, "knot")
	if err != nil {
		t.Fatal(err)
	}
	// knotd runs as root here but keeps its files in dir; make it traversable for unbound,
	// which drops to its own user.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	k := &KnotZone{Zone: zone, Addr: netip.AddrPortFrom(opts.Addr, 53).String(), KeyName: "oemesh-update.", KeyAlgorithm: "hmac-sha256",
		KeySecret: base64.StdEncoding.EncodeToString(secret), Resolver: netip.AddrPortFrom(opts.ResolverAddr, 53).String(),
		dir: dir, ip: ipTool(t, in), ns: ns, conf: filepath.Join(dir, "knot.conf")}

	// The parent delegates each unsigned child to knotd itself, with no DS.
	records := opts.Records
	var children []string
	for label := range opts.Unsigned {
		children = append(children, label)
	}
	slices.Sort(children)
	for _, label := range children {
		records += fmt.Sprintf("\n%s IN NS ns.%s\n", label, zone)
	}
	zf := filepath.Join(dir, zone+"zone")
	if err := os.WriteFile(zf, []byte(zoneFile(zone, zone, opts.TTL, opts.Addr, records)), 0o644); err != nil {
		t.Fatal(err)
	}
	unsignedZones := ""
	for _, label := range children {
		child := label + "." + zone
		f := filepath.Join(dir, child+"zone")
		if err := os.WriteFile(f, []byte(zoneFile(child, zone, opts.TTL, opts.Addr, opts.Unsigned[label])), 0o644); err != nil {
			t.Fatal(err)
		}
		unsignedZones += fmt.Sprintf("  - domain: %s\n    storage: %q\n    file: %q\n    dnssec-signing: off\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: changes\n",
			child, dir, f)
	}
	conf := fmt.Sprintf(`server:
    rundir: %[1]q
    listen: %[2]s@53
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: %[1]q
log:
  - target: %[3]q
    any: info
key:
  - id: %[4]s
    algorithm: %[5]s
    secret: %[6]s
acl:
  - id: update
    key: %[4]s
    action: update
policy:
  - id: ecdsa
    algorithm: ecdsap256sha256
    ksk-lifetime: 0
    zsk-lifetime: 0
    rrsig-lifetime: 14d
    rrsig-refresh: 7d
zone:
  - domain: %[7]s
    storage: %[1]q
    file: %[8]q
    dnssec-signing: on
    dnssec-policy: ecdsa
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: changes
    acl: update
%[9]s`, dir, opts.Addr, filepath.Join(dir, "knot.log"), k.KeyName, k.KeyAlgorithm, k.KeySecret, zone, zf, unsignedZones)
	if err := os.WriteFile(k.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	d, err := startDaemon("knotd in netns "+ns, []string{k.ip, "netns", "exec", ns, "knotd", "-c", k.conf},
		env, filepath.Join(dir, "knotd.out"), filepath.Join(dir, "knot.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.stop(stopGrace); err != nil {
			t.Logf("stop knotd: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := LogWatcher{path: filepath.Join(dir, "knot.log"), d: d}
	if _, err := w.WaitFrom(ctx, 0, regexp.MustCompile(`\[`+regexp.QuoteMeta(zone)+`\] (zone file loaded|loaded, serial)`)); err != nil {
		t.Fatalf("knotd: %v\n%s\n%s", err, tailFile(filepath.Join(dir, "knotd.out"), 10), tailFile(filepath.Join(dir, "knot.log"), 20))
	}
	// The KSK exists once signing has run; keymgr reads knot's key database.
	if err := waitFor(ctx, d, "knot's KSK", func() (bool, error) {
		out, err := exec.Command("keymgr", "-c", k.conf, zone, "ds").Output()
		if err != nil || !strings.Contains(string(out), " DS ") {
			return false, nil
		}
		k.DS = strings.TrimSpace(string(out))
		return true, nil
	}); err != nil {
		t.Fatalf("%v\n%s", err, tailFile(filepath.Join(dir, "knot.log"), 20))
	}
	k.startUnbound(t, ctx, opts)
	return k
}

// KeyFile writes the TSIG key in BIND's key-clause form to a 0600 file and returns its path.
func (k *KnotZone) KeyFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(k.dir, "tsig.key")
	text := fmt.Sprintf("key %q {\n\talgorithm %s;\n\tsecret %q;\n};\n", strings.TrimSuffix(k.KeyName, "."), k.KeyAlgorithm, k.KeySecret)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Read returns owner's rrtype records as knot holds them now (knotc zone-read), "" when
// there are none: for assertions that must not depend on a resolver's cache.
func (k *KnotZone) Read(t testing.TB, owner, rrtype string) string {
	t.Helper()
	out, err := exec.Command("knotc", "-c", k.conf, "zone-read", k.Zone, owner, rrtype).CombinedOutput()
	if strings.Contains(string(out), "no such") {
		return ""
	}
	if err != nil {
		t.Fatalf("knotc zone-read %s %s %s: %v: %s", k.Zone, owner, rrtype, err, out)
	}
	return string(out)
}

func (k *KnotZone) startUnbound(t testing.TB, ctx context.Context, opts KnotOptions) {
	t.Helper()
	anchors := filepath.Join(k.dir, "anchors.txt")
	if err := os.WriteFile(anchors, []byte(k.DS+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(k.dir, "unbound.conf")
	logf := filepath.Join(k.dir, "unbound.log")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`server:
	interface: %s
	port: 53
	do-daemonize: no
	username: ""
	chroot: ""
	directory: %q
	pidfile: ""
	use-syslog: no
	logfile: %q
	verbosity: 1
	num-threads: 1
	do-not-query-localhost: no
%s	trust-anchor-file: %q
	cache-max-ttl: 0
	cache-max-negative-ttl: 0
	# Records change under the tests (UPDATEs): no NXDOMAIN synthesized from
	# an NSEC cached a moment before.
	aggressive-nsec: no
	val-log-level: 2
	module-config: "validator iterator"
stub-zone:
	name: %q
	stub-addr: %s@53
remote-control:
	control-enable: no
`, opts.ResolverAddr, k.dir, logf, accessControl(opts.ResolverClients), anchors, k.Zone, opts.Addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := startDaemon("unbound in netns "+k.ns, []string{k.ip, "netns", "exec", k.ns, "unbound", "-d", "-c", conf},
		[]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, filepath.Join(k.dir, "unbound.out"), logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.stop(stopGrace); err != nil {
			t.Logf("stop unbound: %v", err)
		}
	})
	w := LogWatcher{path: logf, d: d}
	if _, err := w.WaitFrom(ctx, 0, regexp.MustCompile(`start of service`)); err != nil {
		t.Fatalf("unbound: %v\n%s\n%s", err, tailFile(filepath.Join(k.dir, "unbound.out"), 10), tailFile(logf, 10))
	}
}

// accessControl is unbound's access-control lines allowing clients.
func accessControl(clients []netip.Prefix) string {
	s := ""
	for _, p := range clients {
		s += fmt.Sprintf("\taccess-control: %s allow\n", p)
	}
	return s
}

// ipTool is in's ip(8), or the one on PATH when in is nil.
func ipTool(t testing.TB, in *Install) string {
	t.Helper()
	if in != nil {
		return in.IP
	}
	p, err := exec.LookPath("ip")
	if err != nil {
		t.Fatalf("ip(8) not found on PATH: %v", err)
	}
	return p
}
