package peers

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// ServeSignedZone signs zone (records relative to the origin, e.g. "2 IN IPSECKEY 10 0 2 .
// AwEAA..."; SOA and NS are added here) with fresh ECDSA P-256 keys (ldns-keygen,
// ldns-signzone), serves it with nsd on 127.0.0.1:53 inside namespace ns until the test
// ends, and returns the KSK's DS record: the trust anchor for LibreswanConfig.TrustAnchor.
// Use a zone under 198.18.0.0/15 for reverse names: libunbound answers the documentation
// ranges' reverse zones itself.
func ServeSignedZone(t testing.TB, in *Install, ns, zone, records string) string {
	t.Helper()
	for _, tool := range []string{"nsd", "ldns-keygen", "ldns-signzone"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run `make deps` (scripts/apt-packages.txt lists nsd and ldnsutils)", tool)
		}
	}
	dir, err := instanceDir(t, "zone")
	if err != nil {
		t.Fatal(err)
	}
	zf := filepath.Join(dir, zone+".zone")
	content := fmt.Sprintf("$ORIGIN %s.\n$TTL 300\n@ IN SOA ns.oe.test. hostmaster.oe.test. 1 3600 600 86400 300\n@ IN NS ns.oe.test.\n%s", zone, records)
	if err := os.WriteFile(zf, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	keygen := func(args ...string) string {
		cmd := exec.Command("ldns-keygen", append([]string{"-a", "ECDSAP256SHA256"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ldns-keygen %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	ksk := keygen("-k", zone)
	zsk := keygen(zone)
	sign := exec.Command("ldns-signzone", "-o", zone, zf, zsk, ksk)
	sign.Dir = dir
	if out, err := sign.CombinedOutput(); err != nil {
		t.Fatalf("ldns-signzone: %v: %s", err, out)
	}
	ds, err := os.ReadFile(filepath.Join(dir, ksk+".ds"))
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "nsd.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`server:
	ip-address: 127.0.0.1
	port: 53
	username: ""
	chroot: ""
	zonesdir: %q
	database: ""
	zonelistfile: %q
	xfrdfile: %q
	xfrdir: %q
	pidfile: %q
	logfile: %q
	server-count: 1
	verbosity: 1
remote-control:
	control-enable: no
zone:
	name: %s
	zonefile: %q
`, dir, filepath.Join(dir, "zone.list"), filepath.Join(dir, "xfrd.state"), dir, filepath.Join(dir, "nsd.pid"),
		filepath.Join(dir, "nsd.log"), zone, zf+".signed")), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := startDaemon("nsd in netns "+ns, []string{in.IP, "netns", "exec", ns, "nsd", "-d", "-c", conf},
		[]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}, filepath.Join(dir, "nsd.out"), filepath.Join(dir, "nsd.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.stop(stopGrace); err != nil {
			t.Logf("stop nsd: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	w := LogWatcher{path: filepath.Join(dir, "nsd.log"), d: d}
	if _, err := w.WaitFrom(ctx, 0, regexp.MustCompile(`nsd started`)); err != nil {
		t.Fatalf("nsd: %v\n%s", err, tailFile(filepath.Join(dir, "nsd.out"), 10))
	}
	return string(ds)
}
