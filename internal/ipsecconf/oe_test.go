package ipsecconf

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/internal/config"
)

// convertOE converts conf, and checks that oemeshd's configuration loader
// takes the oe: section it printed.
func convertOE(t *testing.T, conf string) Result {
	t.Helper()
	f, err := Parse(strings.NewReader(conf), "ipsec.conf")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Convert(f, Options{CertDir: "/etc/oemesh/certs"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "oemesh.yaml")
	if err := os.WriteFile(p, []byte(res.YAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := config.Load(config.Options{File: p}); err != nil {
		t.Fatalf("oemeshd refuses the imported config: %v\n%s", err, res.YAML())
	}
	return res
}

// dropped lists the problems as "LINE KEY", for exact comparison.
func dropped(res Result) []string {
	var out []string
	for _, p := range res.Unsupported {
		out = append(out, strconv.Itoa(p.Line)+" "+p.Key)
	}
	return out
}

func groupsOf(oe *OESettings) []string {
	var out []string
	for _, g := range oe.Groups {
		out = append(out, g.Group)
	}
	return out
}

func TestOEConns(t *testing.T) {
	for _, tc := range []struct {
		name, conf string
		want       OESettings // Groups compared by name only
		groups     []string
		dropped    []string
	}{{
		name:   "authnull private-or-clear",
		conf:   "conn private-or-clear\n\ttype=tunnel\n\tauthby=null\n\tleftid=%null\n\trightid=%null\n\tleft=%defaultroute\n\tright=%opportunisticgroup\n\tnegotiationshunt=hold\n\tfailureshunt=passthrough\n\tikev2=insist\n\tauto=route\n\tkeyingtries=1\n\tretransmit-timeout=2s\n",
		want:   OESettings{NullAuth: "only", NegotiationShunt: "hold", NegotiationTimeout: "2s"},
		groups: []string{"private-or-clear"},
	}, {
		name:    "dnssec client: NULL for us, the peer's key from DNS",
		conf:    "conn private-or-clear\n\trightauth=rsasig\n\tright=%opportunisticgroup\n\trightrsasigkey=%dnsondemand\n\tleft=%defaultroute\n\tleftid=%null\n\tleftauth=null\n\tnegotiationshunt=passthrough\n\tfailureshunt=passthrough\n\ttype=tunnel\n\tikev2=insist\n\tauto=ondemand\n",
		want:    OESettings{NullAuth: "fallback", NegotiationShunt: "pass"},
		groups:  []string{"private-or-clear"},
		dropped: []string{"1 rightauth=rsasig with leftauth=null"},
	}, {
		name:   "keys in DNS on both sides (FreeS/WAN)",
		conf:   "conn private\n\tleft=%defaultroute\n\tleftrsasigkey=%dnsondemand\n\tright=%opportunisticgroup\n\trightrsasigkey=%dnsondemand\n\tfailureshunt=drop\n\tikelifetime=1h\n\tkeylife=30m\n",
		want:   OESettings{NullAuth: "off", IKELifetime: "1h0m0s", ChildLifetime: "30m0s"},
		groups: []string{"private"},
	}, {
		name:   "certificate OE server",
		conf:   "conn clear-or-private\n\tleftid=%fromcert\n\tleftrsasigkey=%cert\n\tleftcert=gw\n\tleftauth=rsasig\n\tleft=%defaultroute\n\trightid=%null\n\trightauth=null\n\tright=%opportunisticgroup\n\trightaddresspool=100.64.0.1-100.64.0.254\n\trightmodecfgclient=yes\n\tauto=add\n",
		want:   OESettings{NullAuth: "fallback", Cert: "/etc/oemesh/certs/gw.crt", CertKey: "/etc/oemesh/certs/gw.key", CertAnswer: "always", AddressPool: []string{"100.64.0.1-100.64.0.254"}},
		groups: []string{"clear-or-private"},
	}, {
		name:   "certificate OE client",
		conf:   "conn private-or-clear\n\trightid=%fromcert\n\trightrsasigkey=%cert\n\trightauth=rsasig\n\tright=%opportunisticgroup\n\trightca=%any\n\tleft=%defaultroute\n\tleftid=%null\n\tleftauth=null\n\tnegotiationshunt=drop\n\tfailureshunt=passthrough\n",
		want:   OESettings{NullAuth: "fallback", NegotiationShunt: "hold", TrustCertificates: "webpki"},
		groups: []string{"private-or-clear"},
	}, {
		name:    "clear and block take no negotiation keys; a wrong type is refused",
		conf:    "conn %default\n\tkeyingtries=%forever\nconn clear\n\ttype=passthrough\n\tauthby=never\n\tright=%group\nconn block\n\ttype=tunnel\n\tright=%group\n",
		groups:  []string{"clear"},
		dropped: []string{"8 type=tunnel"},
	}, {
		name:    "failure shunts that oemesh's groups do not have",
		conf:    "conn private-or-clear\n\tright=%opportunisticgroup\n\tauthby=null\n\tfailureshunt=drop\nconn private\n\tright=%opportunisticgroup\n\tauthby=null\n\tfailureshunt=passthrough\n\tnegotiationshunt=passthrough\n\tkeyingtries=3\n",
		want:    OESettings{NullAuth: "only"},
		groups:  []string{"private-or-clear", "private"},
		dropped: []string{"4 failureshunt=drop", "8 failureshunt=passthrough", "9 negotiationshunt=passthrough", "10 keyingtries=3"},
	}, {
		name:    "a group oemesh does not have, and a switched-off one",
		conf:    "conn my-oe\n\tright=%opportunisticgroup\nconn private\n\tright=%opportunisticgroup\n\tauto=ignore\n",
		dropped: []string{"1 conn my-oe", "5 auto=ignore"},
	}, {
		name:   "FreeS/WAN packetdefault",
		conf:   "conn packetdefault\n\tleft=%defaultroute\n\tright=%opportunistic\n\trightrsasigkey=%dnsondemand\n\tfailureshunt=passthrough\n\tkeyingtries=1\n\tauto=route\n",
		want:   OESettings{NullAuth: "off"},
		groups: []string{"private-or-clear"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			res := convertOE(t, tc.conf)
			if len(res.Conns) != 0 {
				t.Errorf("OE conns became configured conns: %+v", res.Conns)
			}
			if res.OE == nil {
				t.Fatalf("no OE settings:\n%s", res.YAML())
			}
			got := *res.OE
			if g := groupsOf(&got); !slices.Equal(g, tc.groups) {
				t.Errorf("groups %v, want %v", g, tc.groups)
			}
			got.Groups, got.Notes = nil, nil
			if !oeEqual(got, tc.want) {
				t.Errorf("oe %+v, want %+v", got, tc.want)
			}
			if d := dropped(res); !slices.Equal(d, tc.dropped) {
				t.Errorf("dropped %q, want %q", d, tc.dropped)
			}
		})
	}
}

func oeEqual(a, b OESettings) bool {
	return a.NullAuth == b.NullAuth && a.NegotiationShunt == b.NegotiationShunt && a.NegotiationTimeout == b.NegotiationTimeout &&
		a.IKELifetime == b.IKELifetime && a.ChildLifetime == b.ChildLifetime && a.TrustCertificates == b.TrustCertificates &&
		a.Cert == b.Cert && a.CertKey == b.CertKey && a.CertAnswer == b.CertAnswer && slices.Equal(a.AddressPool, b.AddressPool)
}

// TestOEYAML: the oe: section is what oemeshd reads as oe.*.
func TestOEYAML(t *testing.T) {
	res := convertOE(t, "conn private-or-clear\n\tright=%opportunisticgroup\n\tauthby=null\n\tnegotiationshunt=passthrough\n\tretransmit-timeout=3s\n\trightaddresspool=100.64.0.0/24\n")
	p := filepath.Join(t.TempDir(), "oemesh.yaml")
	os.WriteFile(p, []byte(res.YAML()), 0o644)
	cfg, err := config.Load(config.Options{File: p})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OE.NullAuth != "only" || cfg.OE.NegotiationShunt != "pass" || cfg.OE.NegotiationTimeout.String() != "3s" || !slices.Equal(cfg.OE.AddressPool, []string{"100.64.0.0/24"}) {
		t.Errorf("oemeshd reads oe %+v from\n%s", cfg.OE, res.YAML())
	}
}

// TestOEConnWrongSide: a file written from the other side's view names
// the fix.
func TestOEConnWrongSide(t *testing.T) {
	f, err := Parse(strings.NewReader("conn private\n\tleft=%opportunisticgroup\n\tright=%defaultroute\n"), "ipsec.conf")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Convert(f, Options{})
	want := "ipsec.conf:2: conn private: left=%opportunisticgroup: the opportunistic group is the peer's side, so this host is the right side (oemesh import --local right)"
	if err == nil || err.Error() != want {
		t.Errorf("err %v, want %s", err, want)
	}
	res, err := Convert(f, Options{Local: "right"})
	if err != nil || res.OE == nil || len(res.OE.Groups) != 1 {
		t.Errorf("--local right: %+v %v", res.OE, err)
	}
}
