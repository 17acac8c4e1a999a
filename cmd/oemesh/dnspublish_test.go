package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// publishBed is a namespace with knot serving example. (signed by knot,
// updatable with a TSIG key, no reverse zone), a validating unbound in
// front, and an oemesh configuration for b.example. that publishes there.
type publishBed struct {
	ns      *netnstest.NS
	zone    *peers.KnotZone
	dir     string
	cfg     string // the configuration file
	hostKey string
	socket  string
	ttl     string // dns.publish.ttl
}

func newPublishBed(t *testing.T, prefix, extra string) *publishBed {
	in := peers.Require(t)
	ns := netnstest.New(t, prefix)
	z := peers.ServeKnotZone(t, in, ns.Name, "example.", peers.KnotOptions{TTL: 2})
	dir := t.TempDir()
	b := &publishBed{ns: ns, zone: z, dir: dir, ttl: "2s", hostKey: filepath.Join(dir, "hostkey.pem"), socket: filepath.Join(dir, "run", "oemeshd.sock")}
	if r := run(t, "oemesh", "newhostkey", "--out", b.hostKey); r.code != 0 {
		t.Fatalf("newhostkey: %+v", r)
	}
	b.writeConfig(t, z.KeyFile(t), extra)
	return b
}

func (b *publishBed) writeConfig(t *testing.T, keyFile, extra string) {
	t.Helper()
	b.cfg = filepath.Join(b.dir, "oemesh.yaml")
	writeFiles(t, b.dir, map[string]string{"oemesh.yaml": `identity: "@b.example"
hostkey: ` + b.hostKey + `
policies: ` + filepath.Join(b.dir, "policies") + `
control_socket: ` + b.socket + `
dataplane: userspace
dns:
  servers: [` + b.zone.Resolver + `]
  publish:
    records: [forward, address]
    addresses: [198.18.0.2]
    tsig_key: ` + keyFile + `
    ttl: ` + b.ttl + `
` + extra})
}

// oemesh runs the CLI inside the namespace.
func (b *publishBed) oemesh(t *testing.T, args ...string) result {
	t.Helper()
	cmd := b.ns.Command(context.Background(), filepath.Join(builtDir, "oemesh"), args...)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("oemesh %v: %v", args, err)
	}
	return result{so.String(), se.String(), code}
}

// keysAt are the fingerprints of b.example.'s keys through the validating
// resolver (DNSSEC required).
func (b *publishBed) keysAt(t *testing.T) []string {
	t.Helper()
	r := b.oemesh(t, "dns", "lookup", "@b.example", "--server", b.zone.Resolver, "--json")
	var out dnsLookupOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("dns lookup: %v: %+v", err, r)
	}
	var fps []string
	for _, k := range out.Keys {
		if !k.Secure {
			t.Fatalf("dns lookup: key %s without DNSSEC", k.Fingerprint)
		}
		fps = append(fps, k.Fingerprint)
	}
	slices.Sort(fps)
	return fps
}

// waitKeys waits out the resolver's cache (one TTL, 2s) for want.
func (b *publishBed) waitKeys(t *testing.T, want ...string) {
	t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := b.keysAt(t)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("keys at b.example. = %v, want %v\nzone: %s", got, want, b.zone.Read(t, "b.example.", "IPSECKEY"))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func keyFingerprint(t *testing.T, path string) string {
	t.Helper()
	k, err := dnskey.LoadHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	return dnskey.Fingerprint(k.Public())
}

func TestDNSPublishAndCheck(t *testing.T) {
	b := newPublishBed(t, "dpub", "")
	ours := keyFingerprint(t, b.hostKey)

	// Before: nothing published, check fails naming what is missing.
	r := b.oemesh(t, "dns", "check", "--config", b.cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "IPSECKEY b.example.: missing") {
		t.Fatalf("check before publishing: %+v", r)
	}

	r = b.oemesh(t, "dns", "publish", "--config", b.cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "published IPSECKEY at b.example., A/AAAA at b.example.") {
		t.Fatalf("dns publish: %+v", r)
	}
	b.waitKeys(t, ours)

	r = b.oemesh(t, "--json", "dns", "check", "--config", b.cfg)
	var out dnsCheckOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 || !out.Consistent {
		t.Fatalf("check after publishing: %v %+v", err, r)
	}
	if len(out.Rows) != 2 || out.Rows[0].DNSSEC != "secure" || out.Rows[0].TTL > 2 || out.Rows[1].DNSSEC != "secure" || out.Rows[1].Type != "A/AAAA" ||
		!slices.Equal(out.Rows[1].Found, []string{"198.18.0.2"}) {
		t.Fatalf("check rows: %+v", out.Rows)
	}
	if r := b.oemesh(t, "dns", "check", "--config", b.cfg); r.code != 0 || !strings.Contains(r.stdout, "consistent") ||
		!strings.Contains(r.stdout, "b.example.  IPSECKEY  ok      secure") {
		t.Fatalf("check text: %+v", r)
	}

	// Tampering: another key instead of ours, another address.
	other := filepath.Join(b.dir, "other.pem")
	if r := run(t, "oemesh", "newhostkey", "--out", other); r.code != 0 {
		t.Fatal(r)
	}
	tampered := filepath.Join(b.dir, "tampered.yaml")
	cfg, err := os.ReadFile(b.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte(b.hostKey), []byte(other), 1)
	cfg = bytes.Replace(cfg, []byte("198.18.0.2"), []byte("198.18.0.66"), 1)
	if err := os.WriteFile(tampered, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := b.oemesh(t, "dns", "publish", "--config", tampered); r.code != 0 {
		t.Fatalf("tampering: %+v", r)
	}
	b.waitKeys(t, keyFingerprint(t, other))
	r = b.oemesh(t, "dns", "check", "--config", b.cfg)
	if r.code != 1 || !strings.Contains(r.stderr, "IPSECKEY b.example.: mismatch: our key "+ours+" is not published; DNS holds "+keyFingerprint(t, other)) ||
		!strings.Contains(r.stderr, "A/AAAA b.example.: mismatch: DNS holds 198.18.0.66, the host has 198.18.0.2") {
		t.Fatalf("check after tampering: %+v", r)
	}
}

func TestDNSRollover(t *testing.T) {
	b := newPublishBed(t, "droll", "")
	old := keyFingerprint(t, b.hostKey)
	if r := b.oemesh(t, "dns", "publish", "--config", b.cfg); r.code != 0 {
		t.Fatalf("dns publish: %+v", r)
	}
	b.waitKeys(t, old)
	newKey := filepath.Join(b.dir, "new.pem")
	if r := run(t, "oemesh", "newhostkey", "--out", newKey); r.code != 0 {
		t.Fatal(r)
	}
	nw := keyFingerprint(t, newKey)

	// The overlap lasts --wait; both keys are seen during it, and the host
	// key file is still the old one.
	cmd := b.ns.Command(context.Background(), filepath.Join(builtDir, "oemesh"), "dns", "rollover", "--config", b.cfg, "--new", newKey, "--wait", "6s")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.waitKeys(t, old, nw)
	if keyFingerprint(t, b.hostKey) != old {
		t.Fatal("the host key was switched during the overlap")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("rollover: %v\n%s%s", err, so.String(), se.String())
	}
	if !strings.Contains(so.String(), "now restart oemeshd") {
		t.Fatalf("rollover output: %s", so.String())
	}
	if keyFingerprint(t, b.hostKey) != nw || keyFingerprint(t, b.hostKey+".old") != old {
		t.Fatal("rollover did not install the new key and keep the old")
	}
	// The old record stays until oemeshd's restart publishes the new key
	// alone (the same code as dns publish).
	b.waitKeys(t, old, nw)
	if r := b.oemesh(t, "dns", "publish", "--config", b.cfg); r.code != 0 {
		t.Fatalf("dns publish: %+v", r)
	}
	b.waitKeys(t, nw)
}

// startDaemon runs oemeshd inside the namespace and waits for its socket.
func (b *publishBed) startDaemon(t *testing.T) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(b.dir, "policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := b.ns.Command(context.Background(), filepath.Join(builtDir, "oemeshd"), "--config", b.cfg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for i := 0; i < 400; i++ {
		if r := run(t, "oemesh", "--socket", b.socket, "status"); r.code == 0 {
			return cmd, &stderr
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("oemeshd did not come up:\n%s", stderr.String())
	return nil, nil
}

// publishStatus polls oemesh status until cond holds.
func (b *publishBed) publishStatus(t *testing.T, cond func(*control.PublishStatus) bool) control.PublishStatus {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := run(t, "oemesh", "--socket", b.socket, "--json", "status")
		var st control.Status
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 {
			t.Fatalf("status: %v %+v", err, r)
		}
		if st.Publish != nil && cond(st.Publish) {
			return *st.Publish
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish status: %+v", st.Publish)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A TSIG key the server refuses: dns publish fails with the precise error;
// oemeshd logs it, keeps running, retries, and says so in status.
func TestDNSPublishRefusedKey(t *testing.T) {
	b := newPublishBed(t, "dref", "")
	bad := filepath.Join(b.dir, "bad.key")
	if err := os.WriteFile(bad, []byte(`key "stranger" { algorithm hmac-sha256; secret "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"; };`), 0o600); err != nil {
		t.Fatal(err)
	}
	b.writeConfig(t, bad, "")
	r := b.oemesh(t, "dns", "publish", "--config", b.cfg)
	want := "DNS UPDATE of zone example. at 127.0.0.1:53 (IPSECKEY b.example., A b.example., AAAA b.example.): server answered NOTAUTH (9) with TSIG error BADKEY (17)"
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("dns publish with a refused key: %+v\nwant %q", r, want)
	}

	// A key file others may read is refused before anything is sent.
	if err := os.Chmod(bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := b.oemesh(t, "dns", "publish", "--config", b.cfg); r.code != 1 || !strings.Contains(r.stderr, "has mode 0644: others may read the secret; chmod 600 it") {
		t.Fatalf("dns publish with a 0644 key file: %+v", r)
	}
	if err := os.Chmod(bad, 0o600); err != nil {
		t.Fatal(err)
	}

	d, stderr := b.startDaemon(t)
	st := b.publishStatus(t, func(s *control.PublishStatus) bool { return s.State == "retrying" })
	if !strings.Contains(st.LastError, want) || st.Attempts < 1 || st.NextRetry == nil {
		t.Fatalf("status while refused: %+v", st)
	}
	if r := run(t, "oemesh", "--socket", b.socket, "status"); !strings.Contains(r.stdout, "dns publish: retrying since") ||
		!strings.Contains(r.stdout, "BADKEY") {
		t.Fatalf("status text: %+v", r)
	}
	if !strings.Contains(stderr.String(), "oemeshd keeps running and retries") {
		t.Fatalf("log lacks the failure:\n%s", stderr.String())
	}
	// Still running and serving: signal 0 reaches it (ip netns exec
	// execs oemeshd in place), and status answers.
	if err := d.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("oemeshd is gone: %v\n%s", err, stderr.String())
	}
	b.publishStatus(t, func(s *control.PublishStatus) bool { return s.Attempts >= 1 })
}

// oemeshd publishes at start and, with withdraw_on_stop, removes exactly
// its records at a clean stop.
func TestDNSPublishDaemonWithdrawOnStop(t *testing.T) {
	b := newPublishBed(t, "dwd", "    withdraw_on_stop: true\n")
	d, stderr := b.startDaemon(t)
	b.publishStatus(t, func(s *control.PublishStatus) bool { return s.State == "published" })
	b.waitKeys(t, keyFingerprint(t, b.hostKey))
	if a := b.zone.Read(t, "b.example.", "A"); !strings.Contains(a, "198.18.0.2") {
		t.Fatalf("A at b.example.: %q", a)
	}
	if err := d.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.Wait(); err != nil {
		t.Fatalf("oemeshd exit: %v\n%s", err, stderr.String())
	}
	if got := b.zone.Read(t, "b.example.", "IPSECKEY") + b.zone.Read(t, "b.example.", "A"); got != "" {
		t.Fatalf("after the stop the zone still holds: %q\n%s", got, stderr.String())
	}
	if !strings.Contains(stderr.String(), "records withdrawn at stop") {
		t.Fatalf("log lacks the withdrawal:\n%s", stderr.String())
	}
}

// A new host key and SIGHUP: oemeshd publishes the new key beside the old,
// keeps signing with the old one for one TTL, then switches and withdraws
// the old record.
//
// A peer that cached only the old key (oemesh probe from another namespace,
// verifying our signature with --peer-key) comes up during the overlap;
// after it, only the new key verifies us.
func TestDNSPublishDaemonRolloverOnSIGHUP(t *testing.T) {
	b := newPublishBed(t, "dsig", "")
	b.ttl = "8s"
	b.writeConfig(t, b.zone.KeyFile(t), "")
	peer := netnstest.New(t, "dsigp")
	netnstest.Veth(t, peer, "vp", b.ns, "vb")
	peer.Addr(t, "vp", netip.MustParsePrefix("198.18.0.1/24"))
	b.ns.Addr(t, "vb", netip.MustParsePrefix("198.18.0.2/24"))
	writeFiles(t, filepath.Join(b.dir, "policies"), map[string]string{"private-or-clear": "198.18.0.0/24\n"})
	d, stderr := b.startDaemon(t)
	b.publishStatus(t, func(s *control.PublishStatus) bool { return s.State == "published" })
	old := keyFingerprint(t, b.hostKey)
	b.waitKeys(t, old)
	oldPub := publicKeyFile(t, b.hostKey, filepath.Join(b.dir, "old.pub"))
	probe := func(pub string) result {
		t.Helper()
		cmd := peer.Command(context.Background(), filepath.Join(builtDir, "oemesh"), "probe", "198.18.0.2",
			"--auth", "null", "--peer-auth", "key", "--peer-key", pub, "--timeout", "5s")
		var so, se bytes.Buffer
		cmd.Stdout, cmd.Stderr = &so, &se
		err := cmd.Run()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return result{so.String(), se.String(), code}
	}
	if r := probe(oldPub); r.code != 0 {
		t.Fatalf("probe with the published key before the rollover: %+v\n%s", r, stderr.String())
	}

	if r := run(t, "oemesh", "newhostkey", "--out", b.hostKey, "--force"); r.code != 0 {
		t.Fatal(r)
	}
	nw := keyFingerprint(t, b.hostKey)
	if err := d.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	signing := func() string {
		r := run(t, "oemesh", "--socket", b.socket, "--json", "status")
		var st control.Status
		if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
			t.Fatalf("status: %v %+v", err, r)
		}
		return st.KeyFingerprint
	}
	// The overlap: both published, the old one still signs.
	b.waitKeys(t, old, nw)
	if k := signing(); k != old {
		t.Fatalf("during the overlap oemeshd signs with %s, want the old key %s", k, old)
	}
	if r := probe(oldPub); r.code != 0 || !strings.Contains(r.stdout, "ESTABLISHED") {
		t.Fatalf("a peer holding the old key during the overlap: %+v", r)
	}
	// After one TTL: the new key signs, and is published alone.
	b.waitKeys(t, nw)
	if k := signing(); k != nw {
		t.Fatalf("after the rollover oemeshd signs with %s, want the new key %s", k, nw)
	}
	if r := probe(publicKeyFile(t, b.hostKey, filepath.Join(b.dir, "new.pub"))); r.code != 0 {
		t.Fatalf("a peer holding the new key after the rollover: %+v", r)
	}
	if r := probe(oldPub); r.code != probeExitAuth {
		t.Fatalf("a peer holding only the old key after the rollover: exit %d, want %d (AUTH does not verify): %+v", r.code, probeExitAuth, r)
	}
	if !strings.Contains(stderr.String(), "host key rollover done") {
		t.Fatalf("log:\n%s", stderr.String())
	}
}

func TestCheckConfigPublish(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "tsig.key")
	if err := os.WriteFile(key, []byte("hmac-sha256:oemesh-b:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"oemesh.yaml": "identity: '@b.example'\npolicies: " + filepath.Join(dir, "pol") +
		"\ndns:\n  publish:\n    records: [forward]\n    tsig_key: " + key + "\n"})
	cfg := filepath.Join(dir, "oemesh.yaml")
	r := run(t, "oemeshd", "--config", cfg, "--check-config")
	if r.code != 1 || !strings.Contains(r.stderr, "dns.publish.tsig_key: TSIG key file "+key+" has mode 0644") {
		t.Fatalf("a 0644 key file: %+v", r)
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, "oemeshd", "--config", cfg, "--check-config")
	if r.code != 0 || !strings.Contains(r.stdout, "dns.publish: IPSECKEY at b.example. via each zone's SOA MNAME: ok") {
		t.Fatalf("a good dns.publish: %+v", r)
	}
}

// publicKeyFile writes the public half of the private key at keyPath as PEM
// SubjectPublicKeyInfo (what probe's --peer-key reads) to out.
func publicKeyFile(t *testing.T, keyPath, out string) string {
	t.Helper()
	k, err := dnskey.LoadHostKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}
