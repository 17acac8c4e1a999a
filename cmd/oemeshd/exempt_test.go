package main

import (
	"bytes"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/policygroups"
)

// exemptFixture is a policy with 198.18.0.0/16 in private-or-clear and a
// resolv.conf naming a resolver inside it and one outside.
func exemptFixture(t *testing.T) (*policygroups.Policy, string) {
	t.Helper()
	dir := t.TempDir()
	pol := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pol, "private-or-clear"), []byte("198.18.0.0/16\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(rc, []byte("nameserver 198.18.0.53\nnameserver 203.0.113.53\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, _, err := policygroups.Load(t.Context(), pol, policygroups.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p, rc
}

func TestDNSExemptions(t *testing.T) {
	p, rc := exemptFixture(t)
	for _, tc := range []struct {
		name    string
		dns     config.DNS
		want    string // the exempted address and its reason, or ""
		wantLog string
	}{
		{name: "resolv.conf", dns: config.DNS{Servers: []string{rc}, ExemptServers: true},
			want: "198.18.0.53 DNS server from " + rc},
		{name: "dns.servers", dns: config.DNS{Servers: []string{"198.18.0.53:5353", "203.0.113.1"}, ExemptServers: true},
			want: "198.18.0.53 DNS server from dns.servers"},
		{name: "off", dns: config.DNS{Servers: []string{rc}, ExemptServers: false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := dnsExemptions(&config.Config{DNS: tc.dns})
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			q := exempt(slog.New(slog.NewTextHandler(&logs, nil)), p, ex)
			m := q.Lookup(netip.MustParseAddr("198.18.0.53"))
			if tc.want == "" {
				if m.Group != policygroups.PrivateOrClear || logs.Len() != 0 {
					t.Errorf("exemption off: %v, log %q", m.Group, logs.String())
				}
				return
			}
			if got := m.Addr.String() + " " + m.Entry.Exemption; got != tc.want || m.Group != policygroups.ExemptGroup {
				t.Errorf("198.18.0.53: %v %q, want %q", m.Group, got, tc.want)
			}
			if g := q.Group(netip.MustParseAddr("198.18.0.54")); g != policygroups.PrivateOrClear {
				t.Errorf("a neighbour of the resolver is %v, want private-or-clear", g)
			}
			if n := strings.Count(logs.String(), "exempt from OE"); n != 1 ||
				!strings.Contains(logs.String(), "addr=198.18.0.53") || !strings.Contains(logs.String(), "instead_of=private-or-clear") {
				t.Errorf("want one log line for 198.18.0.53, got:\n%s", logs.String())
			}
		})
	}
}

func TestExemptionWarnings(t *testing.T) {
	p, rc := exemptFixture(t)
	cfg := &config.Config{DNS: config.DNS{Servers: []string{rc}, ExemptServers: true}}
	w := exemptionWarnings(cfg, p)
	if len(w) != 1 || !strings.Contains(w[0], "198.18.0.53 (DNS server from "+rc+") lies in private-or-clear 198.18.0.0/16 at ") ||
		!strings.Contains(w[0], "will exempt it") {
		t.Errorf("warnings %q", w)
	}
	cfg.DNS.ExemptServers = false
	w = exemptionWarnings(cfg, p)
	if len(w) != 1 || !strings.Contains(w[0], "dns.exempt_servers is off") || !strings.Contains(w[0], "deadlock") {
		t.Errorf("warnings with the exemption off %q", w)
	}
	cfg.DNS.Servers = []string{"203.0.113.53"}
	if w := exemptionWarnings(cfg, p); len(w) != 0 {
		t.Errorf("a resolver outside every OE group: %q", w)
	}
	cfg.DNS.Servers = []string{filepath.Join(filepath.Dir(rc), "missing")}
	if w := exemptionWarnings(cfg, p); len(w) != 1 || !strings.Contains(w[0], "cannot list the DNS servers") {
		t.Errorf("unreadable resolv.conf: %q", w)
	}
}

// TestPublishPrimaryExemption: dns.publish.primary, when publication is
// on and the primary is an address, is exempted like a resolver, with its
// own reason; a name, or the SOA MNAME found at run time, cannot be, and
// --check-config says so when the policy initiates OE.
func TestPublishPrimaryExemption(t *testing.T) {
	p, _ := exemptFixture(t)
	on := config.Publish{Forward: true}
	for _, tc := range []struct {
		name    string
		publish config.Publish
		exempt  bool
		want    string // the exempted primary, or ""
		warn    string // a word of the one warning about the primary, or ""
	}{
		{name: "address", publish: withPrimary(on, "198.18.0.99"), exempt: true, want: "198.18.0.99"},
		{name: "address:port", publish: withPrimary(on, "198.18.0.99:5353"), exempt: true, want: "198.18.0.99"},
		{name: "ipv6:port", publish: withPrimary(on, "[2001:db8::99]:53"), exempt: true},
		{name: "publication off", publish: withPrimary(config.Publish{}, "198.18.0.99"), exempt: true},
		{name: "exemption off", publish: withPrimary(on, "198.18.0.99"), warn: "dns.exempt_servers is off"},
		{name: "name", publish: withPrimary(on, "ns.example:53"), exempt: true, warn: `dns.publish.primary "ns.example:53" is a name`},
		{name: "SOA MNAME", publish: on, exempt: true, warn: "found at run time (SOA MNAME)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{DNS: config.DNS{Servers: []string{"203.0.113.53"}, ExemptServers: tc.exempt, Publish: tc.publish}}
			ex, err := dnsExemptions(cfg)
			if err != nil {
				t.Fatal(err)
			}
			q := exempt(slog.New(slog.DiscardHandler), p, ex)
			m := q.Lookup(netip.MustParseAddr("198.18.0.99"))
			if tc.want != "" {
				if m.Group != policygroups.ExemptGroup || m.Entry.Exemption != "DNS UPDATE primary from dns.publish.primary" {
					t.Errorf("198.18.0.99: %v %q, want exempt as the UPDATE primary", m.Group, m.Entry.Exemption)
				}
			} else if m.Group != policygroups.PrivateOrClear {
				t.Errorf("198.18.0.99: %v, want private-or-clear (not exempted)", m.Group)
			}
			w := exemptionWarnings(cfg, p)
			switch {
			case tc.want != "":
				if len(w) != 1 || !strings.Contains(w[0], "198.18.0.99 (DNS UPDATE primary from dns.publish.primary) lies in private-or-clear 198.18.0.0/16") ||
					!strings.Contains(w[0], "will exempt it") {
					t.Errorf("warnings %q", w)
				}
			case tc.warn != "":
				if len(w) != 1 || !strings.Contains(w[0], tc.warn) || !strings.Contains(w[0], "deadlock") {
					t.Errorf("warnings %q, want one saying %q", w, tc.warn)
				}
			default:
				if len(w) != 0 {
					t.Errorf("warnings %q, want none", w)
				}
			}
		})
	}
	// A primary the policy leaves clear needs no warning, even by name.
	empty, _, err := policygroups.Load(t.Context(), t.TempDir(), policygroups.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if w := exemptionWarnings(&config.Config{DNS: config.DNS{Servers: []string{"203.0.113.53"}, ExemptServers: true, Publish: on}}, empty); len(w) != 0 {
		t.Errorf("no OE group, MNAME primary: warnings %q", w)
	}
	// The primary is still exempted when the resolvers cannot be listed.
	cfg := &config.Config{DNS: config.DNS{Servers: []string{"/nonexistent/resolv.conf"}, ExemptServers: true, Publish: withPrimary(on, "198.18.0.99")}}
	ex, err := dnsExemptions(cfg)
	if err == nil || len(ex) != 1 || ex[0].Addr != netip.MustParseAddr("198.18.0.99") {
		t.Errorf("unreadable resolv.conf: %v, %v; want the error and the primary", ex, err)
	}
}

func withPrimary(p config.Publish, primary string) config.Publish {
	p.Primary = primary
	return p
}

// TestResolverAndExemptionsAgree: a dns.servers that mixes addresses and
// a resolv.conf file is read whole, in order, by the resolver and by the
// exemption list alike (`oemesh dns publish` builds the same resolver:
// cmd/oemesh TestPublishSetupServers).
func TestResolverAndExemptionsAgree(t *testing.T) {
	_, rc := exemptFixture(t)
	cfg := &config.Config{DNS: config.DNS{Servers: []string{"192.0.2.1", rc, "[2001:db8::1]:5353"}, ExemptServers: true, Timeout: time.Second}}
	want := []string{"192.0.2.1:53", "198.18.0.53:53", "203.0.113.53:53", "[2001:db8::1]:5353"}
	r, err := newResolver(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Servers(); !slices.Equal(got, want) {
		t.Errorf("the resolver asks %v, want %v", got, want)
	}
	ex, err := dnsExemptions(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ex {
		got = append(got, e.Addr.String()+" "+e.Reason)
	}
	wantEx := []string{"192.0.2.1 DNS server from dns.servers", "198.18.0.53 DNS server from " + rc,
		"203.0.113.53 DNS server from " + rc, "2001:db8::1 DNS server from dns.servers"}
	if !slices.Equal(got, wantEx) {
		t.Errorf("exemptions %q, want %q", got, wantEx)
	}
}
