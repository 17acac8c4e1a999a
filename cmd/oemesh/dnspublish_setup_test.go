package main

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/oemesh/oemesh/dnskey"
)

// TestPublishSetupServers: `oemesh dns publish` and `dns check` resolve
// through every entry of dns.servers, in order, addresses and resolv.conf
// files alike, as oemeshd's resolver does (cmd/oemeshd
// TestResolverAndExemptionsAgree, with the same list).
func TestPublishSetupServers(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(rc, []byte("nameserver 198.18.0.53\nnameserver 203.0.113.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key, err := dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	if err != nil {
		t.Fatal(err)
	}
	hk := filepath.Join(dir, "hostkey.pem")
	if err := dnskey.WriteHostKey(hk, key, true); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "oemesh.yaml")
	body := "hostkey: " + hk + "\ndns:\n  servers: [192.0.2.1, " + rc + ", \"[2001:db8::1]:5353\"]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := loadPublishSetup(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.1:53", "198.18.0.53:53", "203.0.113.53:53", "[2001:db8::1]:5353"}
	if !slices.Equal(s.resolvers, want) {
		t.Errorf("resolvers %v, want %v", s.resolvers, want)
	}
}
