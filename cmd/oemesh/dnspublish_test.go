package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/oemesh/oemesh/internal/control"
)

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

// oemeshd --check-config refuses a TSIG key file others may read and
// reports a good dns.publish.
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
