package main

import (
	"bytes"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/certs/certstest"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/internal/config"
)

func TestLoadOECert(t *testing.T) {
	root := certstest.NewRoot(t, "root")
	inter := root.NewIntermediate(t, "issuer")
	srv := inter.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}, DNSNames: []string{"b.example"}})
	other := inter.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "c.example"}})
	dir := t.TempDir()
	f := certstest.WritePEM(t, dir, "server", srv)
	otherKey := filepath.Join(dir, "other.key")
	certstest.WriteFile(t, otherKey, certstest.KeyPEM(t, other.Key))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	if c, err := loadOECert(config.OE{}, time.Now(), quiet); c != nil || err != nil {
		t.Errorf("no oe.cert: %v, %v; want nothing", c, err)
	}
	ec, err := loadOECert(config.OE{Cert: f.Cert, CertKey: f.Key}, time.Now(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	c := ec.credential()
	if len(c.Chain) != 2 || !bytes.Equal(c.Chain[0], srv.Cert.Raw) || !bytes.Equal(c.Chain[1], srv.Chain[1].Raw) ||
		c.Send != ike.SendCertAlways || c.ID.Type != 0 {
		t.Errorf("credential: %d certificates, send %v, ID %v; want the chain, always sent, the subject DN", len(c.Chain), c.Send, c.ID)
	}

	var logged bytes.Buffer
	if _, err := loadOECert(config.OE{Cert: f.Cert, CertKey: f.Key}, srv.Cert.NotAfter.Add(time.Hour), slog.New(slog.NewTextHandler(&logged, nil))); err != nil ||
		!strings.Contains(logged.String(), "oe.cert has expired") {
		t.Errorf("expired: %v; log %q", err, logged.String())
	}
	if _, err := loadOECert(config.OE{Cert: f.Cert, CertKey: otherKey}, time.Now(), quiet); err == nil || !strings.Contains(err.Error(), "does not belong to certificate") {
		t.Errorf("another certificate's key: %v", err)
	}
	if err := os.Chmod(f.Key, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := loadOECert(config.OE{Cert: f.Cert, CertKey: f.Key}, time.Now(), quiet); err == nil || !strings.Contains(err.Error(), "has mode 0640") {
		t.Errorf("group-readable key: %v", err)
	}
	if _, err := loadOECert(config.OE{Cert: f.Cert, CertKey: filepath.Join(dir, "none.key")}, time.Now(), quiet); err == nil || !strings.Contains(err.Error(), "oe.cert_key") {
		t.Errorf("missing key: %v", err)
	}
}

func TestNewAddressPool(t *testing.T) {
	if p, err := newAddressPool(config.OE{}, clock.System{}); p != nil || err != nil {
		t.Errorf("no pool: %v, %v", p, err)
	}
	p, err := newAddressPool(config.OE{AddressPool: []string{"100.64.0.0/30", "fd00:64::5"}}, clock.System{})
	if err != nil || !p.Has(false) || !p.Has(true) || p.Stats().SizeIPv4 != 2 {
		t.Errorf("pool: %v, %+v", err, p)
	}
	if _, err := newAddressPool(config.OE{AddressPool: []string{"100.64.0.9-100.64.0.1"}}, clock.System{}); err == nil ||
		!strings.HasPrefix(err.Error(), "oe.address_pool: ") || !strings.Contains(err.Error(), "comes after") {
		t.Errorf("reversed range: %v", err)
	}
}

func TestCheckCertOE(t *testing.T) {
	root := certstest.NewRoot(t, "root")
	srv := root.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}})
	f := certstest.WritePEM(t, t.TempDir(), "server", srv)
	var out bytes.Buffer
	if err := checkCertOE(&out, config.OE{Cert: f.Cert, CertKey: f.Key, AddressPool: []string{"100.64.0.0/24"}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`oe.cert: ` + f.Cert + `: ok, "CN=b.example" issued by "CN=root,O=oemesh test", 0 intermediates`, "oe.address_pool: ok, 254 IPv4 and 0 IPv6 addresses"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := checkCertOE(&out, config.OE{}, time.Now()); err != nil || out.Len() != 0 {
		t.Errorf("nothing configured: %v, %q", err, out.String())
	}
}

// TestCertOEConfig: oe.cert is the engine's default certificate, and
// oe.cert_answer always makes every NULL OE initiator get it; without
// oe.cert there is nothing to answer with.
func TestCertOEConfig(t *testing.T) {
	root := certstest.NewRoot(t, "root")
	srv := root.Issue(t, certstest.Options{Subject: pkix.Name{CommonName: "b.example"}})
	f := certstest.WritePEM(t, t.TempDir(), "server", srv)
	quiet := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		answer     string
		withCert   bool
		wantAlways bool
	}{
		{"ifasked", true, false},
		{"always", true, true},
		{"always", false, false},
	} {
		cfg := config.OE{CertAnswer: tc.answer}
		if tc.withCert {
			cfg.Cert, cfg.CertKey = f.Cert, f.Key
		}
		ec, err := loadOECert(cfg, time.Now(), quiet)
		if err != nil {
			t.Fatal(err)
		}
		got := certOEConfig(cfg, ec, ike.EngineConfig{})
		if got.CertOEAlways != tc.wantAlways || (got.Credentials.Cert != nil) != tc.withCert {
			t.Errorf("cert_answer %s, oe.cert %v: CertOEAlways %v, default certificate %v", tc.answer, tc.withCert, got.CertOEAlways, got.Credentials.Cert != nil)
		}
	}
	var out bytes.Buffer
	if err := checkCertOE(&out, config.OE{Cert: f.Cert, CertKey: f.Key, CertAnswer: "always"}, time.Now()); err != nil || !strings.Contains(out.String(), "oe.cert_answer: always") {
		t.Errorf("check with cert_answer always: %v\n%s", err, out.String())
	}
}
