package peers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	in   *Install
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
}

// knotAddr and unboundAddr are where the two servers listen inside the namespace: both on
// loopback, on different addresses, so that each can use port 53.
const (
	knotAddr    = "127.0.0.1"
	unboundAddr = "127.0.0.2"
)

// ServeKnotZone starts knotd in namespace ns serving zone (e.g. "example.") signed by knot,
// with an ACL that lets a fresh TSIG key (hmac-sha256) update it, and a validating unbound
// (trust anchor: the zone's DS) in front of it. Both stop when the test ends.
func ServeKnotZone(t testing.TB, in *Install, ns, zone string, opts KnotOptions) *KnotZone {
	t.Helper()
	for _, tool := range []string{"knotd", "knotc", "keymgr", "unbound"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run `make deps` (scripts/apt-packages.txt lists knot and unbound)", tool)
		}
	}
	if opts.TTL == 0 {
		opts.TTL = 60
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
	k := &KnotZone{Zone: zone, Addr: knotAddr + ":53", KeyName: "oemesh-update.", KeyAlgorithm: "hmac-sha256",
		KeySecret: base64.StdEncoding.EncodeToString(secret), Resolver: unboundAddr + ":53",
		dir: dir, in: in, ns: ns, conf: filepath.Join(dir, "knot.conf")}

	zf := filepath.Join(dir, zone+"zone")
	content := fmt.Sprintf("$ORIGIN %s\n$TTL %d\n@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 %d\n@ IN NS ns.%s\nns IN A %s\n%s",
		zone, opts.TTL, zone, zone, opts.TTL, zone, knotAddr, opts.Records)
	if err := os.WriteFile(zf, []byte(content), 0o644); err != nil {
		t.Fatal(err)
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
`, dir, knotAddr, filepath.Join(dir, "knot.log"), k.KeyName, k.KeyAlgorithm, k.KeySecret, zone, zf)
	if err := os.WriteFile(k.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	d, err := startDaemon("knotd in netns "+ns, []string{in.IP, "netns", "exec", ns, "knotd", "-c", k.conf},
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
	k.startUnbound(t, ctx)
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

func (k *KnotZone) startUnbound(t testing.TB, ctx context.Context) {
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
	access-control: 127.0.0.0/8 allow
	trust-anchor-file: %q
	cache-max-ttl: 0
	cache-max-negative-ttl: 0
	val-log-level: 2
	module-config: "validator iterator"
stub-zone:
	name: %q
	stub-addr: %s@53
remote-control:
	control-enable: no
`, unboundAddr, k.dir, logf, anchors, k.Zone, knotAddr)), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := startDaemon("unbound in netns "+k.ns, []string{k.in.IP, "netns", "exec", k.ns, "unbound", "-d", "-c", conf},
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
