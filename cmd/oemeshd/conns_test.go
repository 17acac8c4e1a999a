package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
)

func loadCfg(t *testing.T, body string) *config.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "oemesh.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Options{File: p, FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestCheckConns(t *testing.T) {
	dir := t.TempDir()
	sec := filepath.Join(dir, "secrets")
	os.WriteFile(sec, []byte("192.0.2.1 198.51.100.1 : PSK \"k1\"\n@rw.example : PSK \"k2\"\n"), 0o600)
	good := `conns:
  - name: office
    local: 192.0.2.1
    remote: 198.51.100.1
    auth: psk
    psk: ` + sec + `
    ike: aes128gcm16-prfsha256-x25519
  - name: rw
    local: 192.0.2.1
    remote: "%any"
    remote_id: "@rw.example"
    auth: psk
    psk: ` + sec + "\n"
	var out bytes.Buffer
	if err := checkConns(&out, loadCfg(t, good)); err != nil || !strings.Contains(out.String(), "conns: 2 ok") {
		t.Fatalf("good conns: %v %q", err, out.String())
	}
	// The engine's PSK callback finds each conn's key by the peer's ID.
	d := &daemon{cfg: loadCfg(t, good)}
	conns, err := d.readConns()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		d.conns.mu.Lock()
		d.conns.init()
		d.conns.conns[c.Name] = c
		d.conns.mu.Unlock()
	}
	if k := d.conns.psk(ike.AddrIdentity(conns[0].RemoteAddr)); string(k) != "k1" {
		t.Errorf("PSK for the office peer: %q", k)
	}
	if k := d.conns.psk(ike.FQDNIdentity("rw.example")); string(k) != "k2" {
		t.Errorf("PSK for the road warrior: %q", k)
	}
	if k := d.conns.psk(ike.FQDNIdentity("stranger.example")); k != nil {
		t.Errorf("PSK for a stranger: %q", k)
	}
	for _, tc := range []struct{ body, want string }{
		{"conns: [{name: a, local: 192.0.2.1, remote: 198.51.100.1, copy_dscp: true}]\n", "conn a: key copy_dscp: true is not supported yet"},
		{"conns: [{name: a, local: 192.0.2.1, remote: 198.51.100.1, ike: aes999}]\n", "conn a: key ike:"},
		{"conns: [{name: a, local: 192.0.2.1, remote: 198.51.100.1, remote_key: /nonexistent.pem}]\n", "conn a: key remote_key:"},
		{"conns: [{name: a, local: 192.0.2.1, remote: 198.51.100.9, auth: psk, psk: " + sec + "}]\n", "conn a: key psk: " + sec + " holds no PSK for 192.0.2.1 and 198.51.100.9"},
	} {
		err := checkConns(&out, loadCfg(t, tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.body, err, tc.want)
		}
	}
	os.Chmod(sec, 0o640)
	if err := checkConns(&out, loadCfg(t, good)); err == nil || !strings.Contains(err.Error(), sec+" has mode 0640") {
		t.Errorf("group-readable secrets: %v", err)
	}
}

// TestConnOwnLocalID: a conn's local_id that differs from the daemon's
// identity (an imported net-to-net's leftid=) is the conn's own identity,
// which --check-config takes and the conn claims; NULL conns claim
// ID_NULL whatever is set.
func TestConnOwnLocalID(t *testing.T) {
	body := "identity: \"@daemon.example\"\nconns:\n" +
		"  - {name: a, local: 192.0.2.1, remote: 198.51.100.1, local_id: \"@west.example\", remote_id: \"@east.example\"}\n" +
		"  - {name: b, local: 192.0.2.1, remote: 198.51.100.2, local_id: \"192.0.2.1\"}\n" +
		"  - {name: c, local: 192.0.2.1, remote: 198.51.100.3}\n"
	var out bytes.Buffer
	if err := checkConns(&out, loadCfg(t, body)); err != nil {
		t.Fatalf("check: %v", err)
	}
	d := &daemon{cfg: loadCfg(t, body)}
	conns, err := d.readConns()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ike.Identity{"a": ike.FQDNIdentity("west.example"), "b": ike.AddrIdentity(netip.MustParseAddr("192.0.2.1")), "c": {}}
	for _, c := range conns {
		oc, err := d.toOE(c, "test")
		if err != nil {
			t.Fatal(err)
		}
		if !ike.SameIdentity(oc.LocalID, want[c.Name]) || (want[c.Name].Type == 0) != (oc.LocalID.Type == 0) {
			t.Errorf("conn %s: local id %v, want %v", c.Name, oc.LocalID, want[c.Name])
		}
	}
}
