package peers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStrongSwanConfigRender(t *testing.T) {
	ed := mustEd25519(t)
	cfg := StrongSwanConfig{
		Conns: []StrongSwanConn{{
			Name: "oe", LocalAddrs: []string{"192.0.2.1"}, RemoteAddrs: []string{"192.0.2.2"},
			Proposals: []string{"aes128gcm16-prfsha256-x25519", "aes256-sha256-modp2048"}, Fragmentation: "force",
			NoMobike: true, RekeyTime: 90 * time.Minute,
			Local:    StrongSwanAuth{Method: AuthPubkey, ID: "@a.example", Key: ed},
			Remote:   StrongSwanAuth{Method: AuthPubkey, ID: "CN=b, O=x", PublicKey: mustEd25519(t).Public()},
			Children: []StrongSwanChild{{Name: "host", Mode: "transport", ESPProposals: []string{"aes128gcm16"}, StartAction: "trap"}},
		}, {
			Name: "p", Local: StrongSwanAuth{Method: AuthPSK, ID: "192.0.2.1"}, Remote: StrongSwanAuth{Method: AuthPSK}, PSK: `se"cret`,
		}},
	}
	dir := t.TempDir()
	if err := cfg.writeFiles(dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "swanctl", "swanctl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	for _, want := range []string{
		"proposals = aes128gcm16-prfsha256-x25519,aes256-sha256-modp2048",
		"fragmentation = force", "mobike = no", "rekey_time = 5400s",
		"id = @a.example", `id = "CN=b, O=x"`, "pubkeys = oe-local.pub", "pubkeys = oe-remote.pub",
		"mode = transport", "local_ts = dynamic", "esp_proposals = aes128gcm16", "start_action = trap",
		"ike-p {", "id-1 = 192.0.2.1", `secret = "se\"cret"`,
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("swanctl.conf lacks %q:\n%s", want, conf)
		}
	}
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Errorf("unbalanced braces:\n%s", conf)
	}
	for _, f := range []string{"private/oe-local.key", "pubkey/oe-local.pub", "pubkey/oe-remote.pub"} {
		if _, err := os.Stat(filepath.Join(dir, "swanctl", f)); err != nil {
			t.Errorf("key file: %v", err)
		}
	}
	ss, _ := os.ReadFile(filepath.Join(dir, "strongswan.conf"))
	for _, want := range []string{"kernel-libipsec kernel-netlink", "allow_peer_ts = yes", "unix://" + dir + "/charon.vici"} {
		if !strings.Contains(string(ss), want) {
			t.Errorf("strongswan.conf lacks %q", want)
		}
	}
	cfg.Dataplane = Netlink
	if s := cfg.strongswanConf(dir); strings.Contains(s, "libipsec") {
		t.Errorf("Netlink data plane still loads kernel-libipsec:\n%s", s)
	}
}

func TestStrongSwanConfigErrors(t *testing.T) {
	ok := StrongSwanConn{Name: "c", Local: StrongSwanAuth{Method: AuthPSK}, Remote: StrongSwanAuth{Method: AuthPSK}, PSK: "x"}
	for _, tc := range []struct {
		name string
		mod  func(*StrongSwanConn)
		want string
	}{
		{"bad name", func(c *StrongSwanConn) { c.Name = "a b" }, `name "a b"`},
		{"psk without secret", func(c *StrongSwanConn) { c.PSK = "" }, "auth psk needs PSK"},
		{"null auth", func(c *StrongSwanConn) { c.Local.Method = "null" }, "no NULL auth"},
		{"pubkey without key", func(c *StrongSwanConn) { c.Local.Method = AuthPubkey }, "local auth pubkey needs Key"},
		{"remote pubkey without key", func(c *StrongSwanConn) { c.Remote.Method = AuthPubkey }, "remote auth pubkey needs PublicKey"},
		{"unknown auth", func(c *StrongSwanConn) { c.Remote.Method = "eap" }, `remote auth method "eap"`},
		{"bad mode", func(c *StrongSwanConn) { c.Children = []StrongSwanChild{{Name: "x", Mode: "beet"}} }, `mode "beet"`},
		{"bad start_action", func(c *StrongSwanConn) { c.Children = []StrongSwanChild{{Name: "x", StartAction: "go"}} }, `start_action "go"`},
		{"bad fragmentation", func(c *StrongSwanConn) { c.Fragmentation = "maybe" }, `fragmentation "maybe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			err := (&StrongSwanConfig{Conns: []StrongSwanConn{c}}).validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	dup := StrongSwanConfig{Conns: []StrongSwanConn{ok, ok}}
	if err := dup.validate(); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Errorf("duplicate conn: %v", err)
	}
}

func TestLibreswanConfigRender(t *testing.T) {
	cfg := LibreswanConfig{
		Conns:       append(OEConns("198.18.0.1"), LibreswanConn{Name: "rsa", Left: "198.18.0.1", Right: "198.18.0.2", AuthBy: "rsasig", LeftHostKey: true, RightRSASigKey: "0sAwEAAQ", IKEv2: "insist", Auto: "add", Extra: []string{"rekey=no"}}),
		Policies:    map[string][]string{"private-or-clear": {"198.18.0.0/24"}, "custom": {"198.18.1.0/24"}},
		HostKeyBits: 3072,
	}
	dir := t.TempDir()
	if err := cfg.writeFiles(dir, "abc123"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "ipsec.conf"))
	conf := string(b)
	for _, want := range []string{
		"ipsecdir=" + dir + "/ipsec.d", "nssdir=" + dir + "/nss", "dnssec-enable=no",
		"conn clear\n\tleft=198.18.0.1\n\tright=%group\n\tauthby=never\n\ttype=passthrough\n\tauto=route\n",
		"conn private-or-clear\n", "keyingtries=1", "retransmit-timeout=2s", "failureshunt=drop", "leftupdown=%disabled",
		"conn rsa\n", "leftckaid=abc123", "rightrsasigkey=0sAwEAAQ", "\trekey=no\n",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("ipsec.conf lacks %q:\n%s", want, conf)
		}
	}
	pol, _ := os.ReadFile(filepath.Join(dir, "ipsec.d", "policies", "private-or-clear"))
	if !strings.Contains(string(pol), "\n198.18.0.0/24\n") {
		t.Errorf("private-or-clear policy file: %q", pol)
	}
	for _, g := range append(StandardGroups, "custom") {
		if _, err := os.Stat(filepath.Join(dir, "ipsec.d", "policies", g)); err != nil {
			t.Errorf("policy group %s: %v", g, err)
		}
	}
	if err := (&LibreswanConfig{Conns: []LibreswanConn{{Name: "x", LeftHostKey: true}}}).validate(); err == nil {
		t.Error("LeftHostKey without HostKeyBits accepted")
	}
	if err := (&LibreswanConfig{Conns: []LibreswanConn{{Name: "x", Extra: []string{"novalue"}}}}).validate(); err == nil {
		t.Error("extra line without = accepted")
	}
}

func TestLibreswanLoadedIn(t *testing.T) {
	cfg := LibreswanConfig{Conns: OEConns("192.0.2.1"), Policies: map[string][]string{"private-or-clear": {"192.0.2.0/24"}}}
	status := `000 "block": 192.0.2.1...%group; unrouted; eroute owner: #0
000 "clear": 192.0.2.1...%group; unrouted; eroute owner: #0
000 "clear-or-private": 192.0.2.1[ID_NULL]...%opportunisticgroup[ID_NULL]; unrouted; eroute owner: #0
000 "private": 192.0.2.1[ID_NULL]...%opportunisticgroup[ID_NULL]; unrouted; eroute owner: #0
000 "private-or-clear": 192.0.2.1[ID_NULL]...%opportunisticgroup[ID_NULL]; unrouted; eroute owner: #0
`
	if cfg.loadedIn(status) {
		t.Error("loaded before the private-or-clear instance exists")
	}
	inst := `000 "private-or-clear#192.0.2.0/24": 192.0.2.1[ID_NULL]...%opportunistic[ID_NULL]===192.0.2.0/24; unrouted; eroute owner: #0
`
	if cfg.loadedIn(status + inst) {
		t.Error("loaded before the auto=route instance is routed")
	}
	if !cfg.loadedIn(status + strings.Replace(inst, "unrouted", "prospective erouted", 1)) {
		t.Error("not loaded with every conn and the routed instance")
	}
}
