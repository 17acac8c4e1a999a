package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
