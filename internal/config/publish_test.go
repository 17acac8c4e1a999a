package config

import (
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPublishDefaultsOff(t *testing.T) {
	c, err := Load(Options{File: filepath.Join(t.TempDir(), "absent.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	p := c.DNS.Publish
	if p.Enabled() || p.TSIGKey != "/etc/oemesh/tsig.key" || p.TTL != 10*time.Minute || p.WithdrawOnStop || p.Primary != "" {
		t.Fatalf("dns.publish defaults: %+v", p)
	}
}

func TestPublishFromYAML(t *testing.T) {
	f := write(t, "a.yaml", `identity: "@b.example"
dns:
  publish:
    records: [forward, address, reverse]
    addresses: [198.18.0.2, "2001:db8::2"]
    tsig_key: /etc/oemesh/b.key
    primary: 192.0.2.53:5353
    zone: example
    ttl: 60s
    withdraw_on_stop: true
`)
	c, err := Load(Options{File: f, FileRequired: true})
	if err != nil {
		t.Fatal(err)
	}
	p := c.DNS.Publish
	if !p.Forward || !p.Address || !p.Reverse || p.Name != "" || p.TSIGKey != "/etc/oemesh/b.key" ||
		p.Primary != "192.0.2.53:5353" || p.Zone != "example" || p.TTL != time.Minute || !p.WithdrawOnStop ||
		!slices.Equal(p.Addresses, []netip.Addr{netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:db8::2")}) {
		t.Fatalf("dns.publish: %+v", p)
	}
	if got := c.Summary()["dns.publish.records"]; !slices.Equal(got.([]string), []string{"reverse", "forward", "address"}) {
		t.Fatalf("summary: %v", got)
	}
}

func TestPublishErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"dns:\n  publish:\n    records: [forward, txt]\n", `key dns.publish.records: "txt": want reverse, forward or address`},
		{"dns:\n  publish:\n    records: [forward, forward]\n", `"forward" listed twice`},
		{"dns:\n  publish:\n    name: '@b.example'\n", `key dns.publish.name: "@b.example" is not a domain name`},
		{"dns:\n  publish:\n    ttl: 1500ms\n", "key dns.publish.ttl: 1.5s: a DNS TTL is a whole number of seconds"},
		{"dns:\n  publish:\n    primary: ns.example\n", `key dns.publish.primary: "ns.example": want ADDRESS or HOST:PORT`},
		{"dns:\n  publish:\n    addresses: [b.example]\n", `"b.example" is not an IP address`},
		{"dns:\n  publish:\n    tsig_key: tsig.key\n", "key dns.publish.tsig_key: must be an absolute path"},
		{"dns:\n  publish:\n    records: [forward]\n", "dns.publish.records [forward] needs the host's forward name: set dns.publish.name, or an @fqdn identity"},
		{"identity: '@b.example'\ndns:\n  publish:\n    records: [reverse]\n", "dns.publish.records [reverse] needs the host's addresses"},
		{"dns:\n  publish:\n    record: [forward]\n", `unknown key "dns.publish.record" (did you mean "dns.publish.records"?)`},
	}
	for _, tt := range tests {
		_, err := Load(Options{File: write(t, "a.yaml", tt.yaml), FileRequired: true})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v\nwant %q", tt.yaml, err, tt.want)
		}
	}
	// Enough: an address identity for reverse, a name for forward.
	for _, y := range []string{
		"identity: 198.18.0.2\ndns:\n  publish:\n    records: [reverse]\n",
		"dns:\n  publish:\n    records: [forward, address]\n    name: b.example\n    addresses: [198.18.0.2]\n",
	} {
		if _, err := Load(Options{File: write(t, "a.yaml", y), FileRequired: true}); err != nil {
			t.Errorf("%s: %v", y, err)
		}
	}
}
