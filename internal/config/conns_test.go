package config

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const netToNet = `
identity: 192.0.2.1
conns:
  - name: office
    local: 192.0.2.1
    remote: 198.51.100.1
    local_subnets: [10.1.0.0/16]
    remote_subnets: [10.2.0.0/16, 10.3.0.0/16]
    remote_id: "@gw.example"
    auth: psk
    psk: /etc/oemesh/secrets
    ike: aes256gcm16-prfsha256-x25519
    esp: aes256gcm16
    ike_lifetime: 8h
    lifetime: 30m
    keying_tries: 0
    dpd: {interval: 10s, action: restart}
    auto: start
    copy_dscp: true
    updown: /usr/local/bin/updown
  - name: roadwarriors
    remote: "%any"
`

func TestConnsNetToNet(t *testing.T) {
	p := write(t, "c.yaml", netToNet)
	if _, err := Load(Options{File: p, FileRequired: true}); err != nil {
		t.Fatalf("the scalar schema must accept a conns list: %v", err)
	}
	cs, err := LoadConns(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 {
		t.Fatalf("got %d conns", len(cs))
	}
	c := cs[0]
	if c.Name != "office" || c.LocalAddr != netip.MustParseAddr("192.0.2.1") || c.RemoteAddr != netip.MustParseAddr("198.51.100.1") ||
		len(c.RemoteSubnets) != 2 || c.RemoteSubnets[1] != netip.MustParsePrefix("10.3.0.0/16") ||
		c.LocalSubnets[0] != netip.MustParsePrefix("10.1.0.0/16") || c.RemoteID != "@gw.example" || c.Auth != "psk" ||
		c.PSK != "/etc/oemesh/secrets" || c.IKELifetime != 8*time.Hour || c.Lifetime != 30*time.Minute ||
		c.KeyingTries != 0 || c.DPD != (DPD{10 * time.Second, "restart"}) || c.Auto != "start" || !c.CopyDSCP ||
		c.Updown != "/usr/local/bin/updown" || c.Mode != "tunnel" || !c.Rekey || !c.UniqueIDs {
		t.Errorf("conn decoded wrong: %+v", c)
	}
	rw := cs[1]
	if rw.Remote != "%any" || rw.RemoteAddr.IsValid() || rw.Local != "%defaultroute" || rw.Auth != "pubkey" ||
		rw.RemoteKey != "dns" || rw.Auto != "add" || rw.KeyingTries != 3 || rw.CopyDSCP {
		t.Errorf("defaults wrong: %+v", rw)
	}
}

func TestConnsTOML(t *testing.T) {
	p := write(t, "c.toml", `
[[conns]]
name = "a"
remote = "198.51.100.1"
remote_subnets = ["10.2.0.0/16"]
keying_tries = 5
`)
	cs, err := LoadConns(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].KeyingTries != 5 || len(cs[0].RemoteSubnets) != 1 {
		t.Errorf("got %+v", cs)
	}
}

func TestConnsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"missing name", `[{remote: 198.51.100.1}]`, []string{"conn conns[0]: key name: missing"}},
		{"bad name", `[{name: "a b", remote: 198.51.100.1}]`, []string{"conn conns[0]: key name: want a name"}},
		{"unknown key", `[{name: a, remote: 198.51.100.1, leftsubnet: 10.0.0.0/8}]`, []string{"conn a: key leftsubnet: unknown key"}},
		{"typo suggestion", `[{name: a, remote: 198.51.100.1, remote_subnet: [10.0.0.0/8]}]`, []string{`did you mean "remote_subnets"`}},
		{"no remote", `[{name: a}]`, []string{"conn a: key remote: missing"}},
		{"bad remote", `[{name: a, remote: peer.example}]`, []string{`conn a: key remote: want an IP address or %any, got "peer.example"`}},
		{"bad subnet", `[{name: a, remote: 198.51.100.1, remote_subnets: [10.2.0.1/16]}]`, []string{"conn a: key remote_subnets: \"10.2.0.1/16\" has host bits set; did you mean 10.2.0.0/16?"}},
		{"psk in config", `[{name: a, remote: 198.51.100.1, auth: psk, psk: "s3cret"}]`, []string{"conn a: key psk: must name a secrets file"}},
		{"psk missing", `[{name: a, remote: 198.51.100.1, auth: psk}]`, []string{"conn a: key psk: missing"}},
		{"bad auth", `[{name: a, remote: 198.51.100.1, auth: rsasig}]`, []string{`conn a: key auth: must be one of pubkey, psk, null, got "rsasig"`}},
		{"bad auto", `[{name: a, remote: 198.51.100.1, auto: ignore}]`, []string{"conn a: key auto:"}},
		{"road warrior start", `[{name: rw, remote: "%any", auto: start}]`, []string{"conn rw: key auto: start needs a known peer"}},
		{"bad tries", `[{name: a, remote: 198.51.100.1, keying_tries: -1}]`, []string{"conn a: key keying_tries: want a whole number"}},
		{"bad lifetime", `[{name: a, remote: 198.51.100.1, lifetime: 3600}]`, []string{"conn a: key lifetime: want a duration"}},
		{"bad dpd", `[{name: a, remote: 198.51.100.1, dpd: {interval: 5s, action: reboot}}]`, []string{"conn a: key dpd.action: must be one of clear, hold, restart"}},
		{"transport with subnets", `[{name: a, remote: 198.51.100.1, mode: transport, remote_subnets: [10.0.0.0/8]}]`, []string{"conn a: key mode: transport mode"}},
		{"relative updown", `[{name: a, remote: 198.51.100.1, updown: updown.sh}]`, []string{"conn a: key updown: must be an absolute path"}},
		{"duplicate", `[{name: a, remote: 198.51.100.1}, {name: a, remote: 198.51.100.2}]`, []string{"conn a: key name: also used by conns[0]"}},
		{"families", `[{name: a, local: 192.0.2.1, remote: "2001:db8::1"}]`, []string{"conn a: key remote: 2001:db8::1 and local 192.0.2.1 are of different address families"}},
		{"overlap", `[{name: a, remote: 198.51.100.1, remote_subnets: [10.2.0.0/16]}, {name: b, remote: 198.51.100.2, remote_subnets: [10.2.3.0/24]}]`,
			[]string{"conn b: key remote_subnets: 10.2.3.0/24 overlaps 10.2.0.0/16 of conn a: one would shadow the other"}},
		{"not a list", `{name: a}`, []string{"key conns: want a list of tables"}},
		{"two errors at once", `[{name: a, remote: x, auth: y}]`, []string{"conn a: key remote:", "conn a: key auth:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, "c.yaml", "conns: "+tc.body+"\n")
			_, err := LoadConns(p)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			if !strings.Contains(err.Error(), "config "+p) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestConnsNoOverlap(t *testing.T) {
	for _, body := range []string{
		// Two road warriors told apart by their IDs.
		`[{name: a, remote: "%any", remote_id: "@a.example"}, {name: b, remote: "%any", remote_id: "@b.example"}]`,
		// Same remote subnet from different local subnets.
		`[{name: a, remote: 198.51.100.1, local_subnets: [10.1.0.0/16], remote_subnets: [10.2.0.0/16]},
		  {name: b, remote: 198.51.100.1, local_subnets: [10.9.0.0/16], remote_subnets: [10.2.0.0/16]}]`,
		// Disjoint.
		`[{name: a, remote: 198.51.100.1, remote_subnets: [10.2.0.0/16]}, {name: b, remote: 198.51.100.2, remote_subnets: [10.3.0.0/16]}]`,
	} {
		p := write(t, "c.yaml", "conns: "+body+"\n")
		if _, err := LoadConns(p); err != nil {
			t.Errorf("%s: %v", body, err)
		}
	}
}

func TestConnsNone(t *testing.T) {
	p := write(t, "c.yaml", "identity: 192.0.2.1\n")
	cs, err := LoadConns(p)
	if err != nil || cs != nil {
		t.Errorf("got %v, %v", cs, err)
	}
	if _, err := LoadConns(filepath.Join(t.TempDir(), "absent.yaml")); err == nil {
		t.Error("a missing conn file must be an error")
	}
}

func TestConnsAddKEProposals(t *testing.T) {
	// strongSwan's keN_ keywords pass the schema and are kept as
	// written: whether the engine can run them is the daemon's check.
	p := write(t, "c.yaml", `conns:
  - name: pq
    remote: 198.51.100.1
    ike: aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none
    esp: aes256gcm16-ke1_none
`)
	cs, err := LoadConns(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].IKE != "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none" || cs[0].ESP != "aes256gcm16-ke1_none" {
		t.Errorf("conn decoded wrong: %+v", cs)
	}
}
