package dnskey

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The integration tests run the real thing: `oemesh newhostkey` and
// `oemesh showhostkey` (built from this tree) make the keys and records, nsd
// (apt) serves them on 127.0.0.1, unbound (apt) validates them against a
// trust anchor for the signed zone, and this package and `oemesh dns lookup`
// read them back. They are skipped only under -short; a missing binary is a
// failure, because CI installs them with `make deps`.

const (
	nsdBin        = "/usr/sbin/nsd"
	unboundBin    = "/usr/sbin/unbound"
	ldnsKeygenBin = "/usr/bin/ldns-keygen"
	ldnsSignBin   = "/usr/bin/ldns-signzone"
	knotdBin      = "/usr/sbin/knotd"
)

func needBinaries(t *testing.T, bins ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test with nsd/unbound: skipped under -short")
	}
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			t.Fatalf("%s is missing: run `make deps` (scripts/install-deps.sh installs nsd, knot, unbound, ldnsutils from scripts/apt-packages.txt)", b)
		}
	}
}

// oemeshCLI builds cmd/oemesh from this tree into dir.
func oemeshCLI(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "oemesh")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/oemesh/oemesh/cmd/oemesh").CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/oemesh: %v\n%s", err, out)
	}
	return bin
}

type cliResult struct {
	stdout, stderr string
	code           int
}

func runCLI(t *testing.T, bin string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("oemesh %v: %v", args, err)
	}
	return cliResult{so.String(), se.String(), code}
}

func mustCLI(t *testing.T, bin string, args ...string) string {
	t.Helper()
	r := runCLI(t, bin, args...)
	if r.code != 0 {
		t.Fatalf("oemesh %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// freePort finds a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no free port on 127.0.0.1")
	return 0
}

// startDaemon runs a server in the foreground, stops it at cleanup and
// waits until it answers an SOA query for zone.
func startDaemon(t *testing.T, name, addr, zone string, logf string, argv ...string) {
	t.Helper()
	log, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf)
			t.Logf("%s log:\n%s", name, b)
		}
	})
	c := &dns.Client{Timeout: 300 * time.Millisecond}
	q := new(dns.Msg)
	q.SetQuestion(zone, dns.TypeSOA)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-exited:
			b, _ := os.ReadFile(logf)
			t.Fatalf("%s exited at start:\n%s", name, b)
		default:
		}
		if r, _, err := c.Exchange(q, addr); err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf)
			t.Fatalf("%s does not answer SOA %s on %s:\n%s", name, zone, addr, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func runTool(t *testing.T, dir string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, ee.Stderr)
		}
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return strings.TrimSpace(string(out))
}

const (
	signedZone   = "0.18.198.in-addr.arpa."
	unsignedZone = "1.18.198.in-addr.arpa."
	fqdnZone     = "oe.example."
	v6Zone       = "8.b.d.0.1.0.0.2.ip6.arpa."
)

func zoneHeader(zone string) string {
	return fmt.Sprintf("$ORIGIN %s\n$TTL 300\n@ IN SOA ns.oemesh-test.net. hostmaster.oemesh-test.net. 1 3600 600 86400 300\n@ IN NS ns.oemesh-test.net.\n", zone)
}

// host is one published host key: its key file, its records as
// showhostkey printed them, and its ID.
type host struct {
	id      string
	keyFile string
	lines   []string
}

func TestRealServers(t *testing.T) {
	needBinaries(t, nsdBin, knotdBin, unboundBin, ldnsKeygenBin, ldnsSignBin)
	dir := t.TempDir()
	cli := oemeshCLI(t, dir)

	newKey := func(name string, args ...string) string {
		f := filepath.Join(dir, name+".pem")
		mustCLI(t, cli, append([]string{"newhostkey", "--out", f}, args...)...)
		return f
	}
	rsaKey := newKey("rsa", "--type", "rsa", "--bits", "2048")
	edKey := newKey("ed")
	p256Key := newKey("p256", "--type", "ecdsa")
	p384Key := newKey("p384", "--type", "ecdsa", "--bits", "384")
	ed2Key := newKey("ed2")
	show := func(key string, args ...string) []string {
		out := mustCLI(t, cli, append([]string{"showhostkey", "--hostkey", key}, args...)...)
		return strings.Split(strings.TrimSpace(out), "\n")
	}
	hosts := []host{
		{id: "198.18.1.2", keyFile: rsaKey, lines: show(rsaKey, "--ipseckey", "--txt", "--key", "--id", "198.18.1.2")},
		{id: "198.18.1.3", keyFile: edKey, lines: show(edKey, "--ipseckey", "--id", "198.18.1.3", "--gateway", "198.18.1.9")},
		{id: "198.18.1.4", keyFile: p256Key, lines: show(p256Key, "--ipseckey", "--id", "198.18.1.4", "--gateway", "@gw.oe.example", "--precedence", "20")},
		{id: "@host.oe.example", keyFile: p384Key, lines: show(p384Key, "--ipseckey", "--id", "@host.oe.example", "--gateway", "2001:db8::9")},
		{id: "198.18.0.2", keyFile: rsaKey, lines: show(rsaKey, "--ipseckey", "--txt", "--key", "--id", "198.18.0.2", "--gateway", "198.18.0.1")},
		{id: "198.18.0.3", keyFile: edKey, lines: show(edKey, "--ipseckey", "--id", "198.18.0.3")},
		{id: "198.18.0.5", keyFile: edKey, lines: show(edKey, "--ipseckey", "--id", "198.18.0.5")},
		{id: "2001:db8::5", keyFile: rsaKey, lines: show(rsaKey, "--ipseckey", "--txt", "--key", "--id", "2001:db8::5", "--gateway", "2001:db8::9")},
	}
	// Served unsigned, by nsd and by knot.
	plain := []host{hosts[0], hosts[1], hosts[2], hosts[3], hosts[7]}
	zones := map[string]*strings.Builder{}
	for _, z := range []string{signedZone, unsignedZone, fqdnZone, v6Zone} {
		zones[z] = &strings.Builder{}
		zones[z].WriteString(zoneHeader(z))
	}
	for _, h := range hosts {
		for _, l := range h.lines {
			for z, b := range zones {
				if strings.HasSuffix(strings.Fields(l)[0], "."+z) {
					b.WriteString(l + "\n")
				}
			}
		}
	}
	zdir := filepath.Join(dir, "zones")
	os.Mkdir(zdir, 0o755)
	for z, b := range zones {
		if err := os.WriteFile(filepath.Join(zdir, z+"zone"), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Sign 0.18.198.in-addr.arpa (ECDSA P-256 KSK and ZSK), then forge
	// 198.18.0.5's key in the signed file: its signature no longer matches.
	ksk := runTool(t, zdir, ldnsKeygenBin, "-a", "ECDSAP256SHA256", "-k", signedZone)
	zsk := runTool(t, zdir, ldnsKeygenBin, "-a", "ECDSAP256SHA256", signedZone)
	runTool(t, zdir, ldnsSignBin, "-o", signedZone, signedZone+"zone", zsk, ksk)
	signedFile := filepath.Join(zdir, signedZone+"zone.signed")
	signed, err := os.ReadFile(signedFile)
	if err != nil {
		t.Fatal(err)
	}
	edB64 := lastField(hosts[6].lines[0])
	ed2B64 := lastField(show(ed2Key, "--ipseckey", "--id", "198.18.0.5")[0])
	if !bytes.Contains(signed, []byte(edB64)) {
		t.Fatalf("signed zone lacks the ed25519 key of 198.18.0.5:\n%s", signed)
	}
	lines := strings.Split(string(signed), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "5.0.18.198.in-addr.arpa.") && strings.Contains(l, "\tIPSECKEY\t") {
			lines[i] = strings.Replace(l, edB64, ed2B64, 1)
		}
	}
	forged := []byte(strings.Join(lines, "\n"))
	if bytes.Equal(forged, signed) {
		t.Fatalf("could not forge 198.18.0.5's record in:\n%s", signed)
	}
	if err := os.WriteFile(signedFile, forged, 0o644); err != nil {
		t.Fatal(err)
	}

	nsdPort := freePort(t)
	nsdAddr := fmt.Sprintf("127.0.0.1:%d", nsdPort)
	nsdConf := filepath.Join(dir, "nsd.conf")
	conf := fmt.Sprintf(`server:
	ip-address: 127.0.0.1
	port: %d
	do-ip6: no
	username: ""
	chroot: ""
	zonesdir: "%s"
	database: ""
	zonelistfile: "%s/zone.list"
	xfrdfile: "%s/xfrd.state"
	xfrdir: "%s"
	pidfile: "%s/nsd.pid"
	server-count: 1
	verbosity: 1
remote-control:
	control-enable: no
zone:
	name: %s
	zonefile: "%s"
zone:
	name: %s
	zonefile: "%s"
zone:
	name: %s
	zonefile: "%s"
zone:
	name: %s
	zonefile: "%s"
`, nsdPort, zdir, dir, dir, dir, dir, v6Zone, filepath.Join(zdir, v6Zone+"zone"),
		signedZone, signedFile, unsignedZone, filepath.Join(zdir, unsignedZone+"zone"),
		fqdnZone, filepath.Join(zdir, fqdnZone+"zone"))
	if err := os.WriteFile(nsdConf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, "nsd", nsdAddr, unsignedZone, filepath.Join(dir, "nsd.log"), nsdBin, "-d", "-c", nsdConf)

	t.Run("authoritative", func(t *testing.T) {
		// nsd is authoritative, not validating: no AD bit.
		r, err := New(Config{Servers: []string{nsdAddr}, AcceptInsecure: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range plain {
			checkRoundTrip(t, r, h, false)
		}
		// The CLI reads the same records.
		var out struct {
			Status string
			Keys   []struct{ Source, Fingerprint string }
		}
		res := runCLI(t, cli, "dns", "lookup", "--server", nsdAddr, "--insecure", "--json", "198.18.1.2")
		if res.code != 0 || json.Unmarshal([]byte(res.stdout), &out) != nil || len(out.Keys) != 3 {
			t.Fatalf("dns lookup 198.18.1.2: exit %d\n%s%s", res.code, res.stdout, res.stderr)
		}
		want := fingerprintOf(t, rsaKey)
		for _, k := range out.Keys {
			if k.Fingerprint != want {
				t.Errorf("%s fingerprint %s, want %s", k.Source, k.Fingerprint, want)
			}
		}
		if res := runCLI(t, cli, "dns", "lookup", "--server", nsdAddr, "--insecure", "198.18.1.99"); res.code != 3 || !strings.Contains(res.stdout, "NXDOMAIN") {
			t.Errorf("dns lookup of a missing name: exit %d, want 3\n%s%s", res.code, res.stdout, res.stderr)
		}
		if res := runCLI(t, cli, "dns", "lookup", "--server", nsdAddr, "198.18.1.2"); res.code != 3 || !strings.Contains(res.stdout+res.stderr, "not DNSSEC-validated") {
			t.Errorf("dns lookup without AD under require_dnssec: exit %d, want 3 and an explanation\n%s%s", res.code, res.stdout, res.stderr)
		}
	})

	// knot serves the same unsigned zone files: the records showhostkey
	// prints load in knot too, and read back the same.
	knotPort := freePort(t)
	knotAddr := fmt.Sprintf("127.0.0.1:%d", knotPort)
	knotDir := filepath.Join(dir, "knot")
	os.Mkdir(knotDir, 0o755)
	conf = fmt.Sprintf(`server:
    rundir: "%[1]s"
    listen: 127.0.0.1@%[2]d
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "%[1]s"
log:
  - target: stderr
    any: info
template:
  - id: default
    storage: "%[3]s"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: on
zone:
  - domain: %[4]s
    file: "%[4]szone"
  - domain: %[5]s
    file: "%[5]szone"
  - domain: %[6]s
    file: "%[6]szone"
`, knotDir, knotPort, zdir, unsignedZone, fqdnZone, v6Zone)
	knotConf := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(knotConf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, "knotd", knotAddr, unsignedZone, filepath.Join(dir, "knot.log"), knotdBin, "-c", knotConf)
	t.Run("knot", func(t *testing.T) {
		r, err := New(Config{Servers: []string{knotAddr}, AcceptInsecure: true, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range plain {
			checkRoundTrip(t, r, h, false)
		}
	})

	// unbound validates 0.18.198.in-addr.arpa against its DS; the other
	// zone has no trust anchor and so is insecure.
	ubPort := freePort(t)
	ubAddr := fmt.Sprintf("127.0.0.1:%d", ubPort)
	ubConf := filepath.Join(dir, "unbound.conf")
	conf = fmt.Sprintf(`server:
	interface: 127.0.0.1
	port: %d
	do-ip6: no
	do-daemonize: no
	chroot: ""
	username: ""
	directory: "%s"
	pidfile: "%s/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 1
	val-log-level: 2
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	trust-anchor-file: "%s"
	trust-anchor-signaling: no
	root-key-sentinel: no
	qname-minimisation: no
	module-config: "validator iterator"
remote-control:
	control-enable: no
stub-zone:
	name: "%s"
	stub-addr: 127.0.0.1@%d
stub-zone:
	name: "%s"
	stub-addr: 127.0.0.1@%d
`, ubPort, dir, dir, filepath.Join(zdir, ksk+".ds"), signedZone, nsdPort, unsignedZone, nsdPort)
	if err := os.WriteFile(ubConf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	// Debian's AppArmor profile for /usr/sbin/unbound (enforced where
	// AppArmor is on) forbids reading a config under /tmp; the profile
	// attaches by path, so a copy of the binary runs unconfined.
	ubCopy := filepath.Join(dir, "unbound")
	if b, err := os.ReadFile(unboundBin); err != nil || os.WriteFile(ubCopy, b, 0o755) != nil {
		t.Fatalf("copying %s: %v", unboundBin, err)
	}
	startDaemon(t, "unbound", ubAddr, signedZone, filepath.Join(dir, "unbound.log"), ubCopy, "-d", "-c", ubConf)

	t.Run("validating", func(t *testing.T) {
		r, err := New(Config{Servers: []string{ubAddr}, Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts[4:6] {
			checkRoundTrip(t, r, h, true)
		}
		// Unsigned zone: records exist, but not validated: no key.
		res, err := r.Lookup(context.Background(), mustID(t, "198.18.1.2"))
		if !errors.Is(err, ErrInsecure) || !errors.Is(err, ErrNoKey) || len(res.Keys) != 0 || len(res.Skipped) != 3 || !res.Insecure {
			t.Fatalf("unsigned zone under require_dnssec: %+v, %v; want ErrInsecure and 3 skipped records", res, err)
		}
		// Forged record in the signed zone: unbound finds it bogus and
		// answers SERVFAIL: DNS failure, not "no key".
		_, err = r.Lookup(context.Background(), mustID(t, "198.18.0.5"))
		if !errors.Is(err, ErrDNSFailure) || errors.Is(err, ErrNoKey) {
			t.Fatalf("forged record: err = %v, want ErrDNSFailure", err)
		}

		if res := runCLI(t, cli, "dns", "lookup", "--server", ubAddr, "198.18.0.2"); res.code != 0 || strings.Count(res.stdout, " secure") != 3 {
			t.Errorf("dns lookup 198.18.0.2 via unbound: exit %d, want 0 and 3 secure keys\n%s%s", res.code, res.stdout, res.stderr)
		}
		if res := runCLI(t, cli, "dns", "lookup", "--server", ubAddr, "198.18.1.2"); res.code != 3 {
			t.Errorf("dns lookup of the unsigned zone: exit %d, want 3\n%s%s", res.code, res.stdout, res.stderr)
		}
		if res := runCLI(t, cli, "dns", "lookup", "--server", ubAddr, "--timeout", "1s", "198.18.0.5"); res.code != 1 || !strings.Contains(res.stderr, "SERVFAIL") {
			t.Errorf("dns lookup of the forged record: exit %d, want 1 (SERVFAIL)\n%s%s", res.code, res.stdout, res.stderr)
		}
	})
}

func lastField(s string) string {
	f := strings.Fields(s)
	return f[len(f)-1]
}

func fingerprintOf(t *testing.T, keyFile string) string {
	t.Helper()
	k, err := LoadHostKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return Fingerprint(k.Public())
}

// checkRoundTrip looks h up and checks that DNS returned exactly the
// records showhostkey printed, with the key bit for bit.
func checkRoundTrip(t *testing.T, r *Resolver, h host, secure bool) {
	t.Helper()
	k, err := LoadHostKey(h.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	_, wantRaw, err := MarshalPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Lookup(context.Background(), mustID(t, h.id))
	if err != nil {
		t.Fatalf("%s: %v (skipped %+v)", h.id, err, res.Skipped)
	}
	if len(res.Keys) != len(h.lines) || len(res.Skipped) != 0 {
		t.Fatalf("%s: %d keys, %d skipped; want the %d records published:\n%s", h.id, len(res.Keys), len(res.Skipped), len(h.lines), strings.Join(h.lines, "\n"))
	}
	for _, pk := range res.Keys {
		_, gotRaw, err := MarshalPublicKey(pk.PublicKey)
		if err != nil || !bytes.Equal(gotRaw, wantRaw) {
			t.Errorf("%s %s: key differs from the host key (%v)", h.id, pk.Source, err)
		}
		if pk.Secure != secure {
			t.Errorf("%s %s: secure = %v, want %v", h.id, pk.Source, pk.Secure, secure)
		}
		served := mustRR(t, pk.Record)
		found := false
		for _, l := range h.lines {
			if dns.IsDuplicate(served, mustRR(t, l)) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: served record\n%s\nis not one showhostkey printed:\n%s", h.id, pk.Record, strings.Join(h.lines, "\n"))
		}
		if pk.Source == SourceIPSECKEY {
			// Compare the raw public-key field too.
			raw, _ := base64.StdEncoding.DecodeString(served.(*dns.IPSECKEY).PublicKey)
			if !bytes.Equal(raw, wantRaw) {
				t.Errorf("%s: IPSECKEY key field differs", h.id)
			}
		}
	}
}
