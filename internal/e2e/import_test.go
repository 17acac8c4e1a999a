package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestImportedLibreswanOE: a imports Libreswan's oe-dnssec-client.conf
// (its private-or-clear conn: peers authenticated by their key in DNS,
// traffic passing while OE negotiates and when it fails; its block conn)
// and runs oemeshd with the result and Libreswan's policy files. It then
// behaves as that Libreswan host would: b, which publishes a key, is
// reached over ESP with b authenticated by its key; d, which has no key
// and runs no IKE daemon, is reached in the clear; c, in the block group,
// is not reached at all and sees no packet from a.
func TestImportedLibreswanOE(t *testing.T) {
	conf := "/usr/share/doc/libreswan/examples/oe-dnssec-client.conf"
	if _, err := os.Stat(conf); err != nil {
		t.Skipf("Libreswan's examples are not installed (apt install libreswan): %v", err)
	}
	out, err := exec.Command(filepath.Join(binDir, "oemesh"), "import", conf).Output()
	if err != nil {
		t.Fatalf("oemesh import %s: %v", conf, err)
	}
	imported := string(out)
	if !strings.Contains(imported, "oe:\n") {
		t.Fatalf("the import has no oe: section:\n%s", imported)
	}
	m := newMesh(t, lab.MeshOptions{}) // a, b, c publish keys; d does not
	ctx := ctxT(t, 90*time.Second)
	a, b, c, d := m.Hosts["a"], m.Hosts["b"], m.Hosts["c"], m.Hosts["d"]
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "c", responder)
	// Libreswan's /etc/ipsec.d/policies, which oemeshd reads as they are.
	start(t, m, ctx, "a", lab.HostConfig{Extra: imported, Policies: map[string]string{
		"private-or-clear": lan, "clear": clearDNS, "block": c.Addr4.String() + "\n"}})
	capt := capture(t, m)

	if r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond); r.Received != 5 {
		t.Errorf("keyed peer b: %d/5 answered\n%s", r.Received, r.Output)
	}
	if r := m.Ping(ctx, "a", d.Addr4, 3, 200*time.Millisecond); r.Received != 3 {
		t.Errorf("keyless peer d: %d/3 answered (private-or-clear fails to clear)\n%s", r.Received, r.Output)
	}
	if r := m.Ping(ctx, "a", c.Addr4, 2, 100*time.Millisecond); r.Received != 0 {
		t.Errorf("blocked peer c: %d answered", r.Received)
	}
	counts := capt.Settled()
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n < 6 {
		t.Errorf("a–b: %d ESP packets, want ≥ 6 (%v)", n, counts)
	}
	if n := counts.From(a.Addr4, d.Addr4, lab.KindICMP); n != 3 || counts.Between(a.Addr4, d.Addr4, lab.KindESP) != 0 {
		t.Errorf("a–d: %d cleartext echoes (want 3) and no ESP: %v", n, counts)
	}
	if n := counts.From(a.Addr4, c.Addr4, lab.KindICMP) + counts.From(a.Addr4, c.Addr4, lab.KindIKE); n != 0 {
		t.Errorf("a–c (block): %d packets left a: %v", n, counts)
	}
	tout, _ := m.CLI(ctx, "a", "traffic", "--json")
	var sas []control.TunnelStatus
	json.Unmarshal([]byte(tout), &sas)
	if len(sas) != 1 || sas[0].Peer != b.Addr4.String() || sas[0].Auth != control.AuthKey {
		t.Errorf("a's tunnels: want one, with b, b authenticated by its key:\n%s", tout)
	}
}

// TestImportedNetToNetOwnIDs: a net-to-net ipsec.conf whose leftid= and
// rightid= are not the daemons' identities (which are their addresses) is
// imported on each side (--local left on a, right on b) and run: each
// conn claims its own ID, as initiator (a, auto=start) and as responder
// (b), the PSK is found by those IDs in the included secrets file, and
// the hosts' traffic is ESP.
func TestImportedNetToNetOwnIDs(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	conf := fmt.Sprintf(`conn west-east
	left=%s
	leftid=@west.example
	right=%s
	rightid=@east.example
	authby=secret
	auto=start
`, a.Addr4, b.Addr4)
	imp := func(host, side string) string {
		h := m.Hosts[host]
		os.MkdirAll(filepath.Join(h.Dir, "ipsec.d"), 0o755)
		os.WriteFile(filepath.Join(h.Dir, "ipsec.conf"), []byte(conf), 0o644)
		writeSecrets(t, filepath.Join(h.Dir, "ipsec.secrets"), "include ipsec.d/*.secrets\n")
		writeSecrets(t, filepath.Join(h.Dir, "ipsec.d", "we.secrets"), "@west.example @east.example : PSK \"a key shared west to east\"\n")
		out, err := exec.Command(filepath.Join(binDir, "oemesh"), "import", filepath.Join(h.Dir, "ipsec.conf"), "--local", side,
			"--secrets", filepath.Join(h.Dir, "ipsec.secrets")).CombinedOutput()
		if err != nil {
			t.Fatalf("import on %s: %v\n%s", host, err, out)
		}
		return string(out)
	}
	bConf := strings.Replace(imp("b", "right"), `auto: "start"`, `auto: "add"`, 1) // b answers
	start(t, m, ctx, "b", lab.HostConfig{Extra: bConf})
	start(t, m, ctx, "a", lab.HostConfig{Extra: imp("a", "left")})
	waitConn(t, m, ctx, "a", "west-east", 30*time.Second, func(c control.ConnStatus) bool { return c.State == control.ConnUp })
	capt := capture(t, m)
	if r := m.Ping(ctx, "a", b.Addr4, 3, 200*time.Millisecond); r.Received != 3 {
		t.Errorf("a→b over the conn: %d/3 answered\n%s", r.Received, r.Output)
	}
	counts := capt.Settled()
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n < 6 || counts.Between(a.Addr4, b.Addr4, lab.KindICMP) != 0 {
		t.Errorf("a–b: want ESP only: %v", counts)
	}
	for host, want := range map[string]string{"a": "@east.example", "b": "@west.example"} {
		out, _ := m.CLI(ctx, host, "traffic", "--json")
		var sas []control.TunnelStatus
		json.Unmarshal([]byte(out), &sas)
		if len(sas) != 1 || sas[0].PeerID != want {
			t.Errorf("%s's tunnels: want one with %s:\n%s", host, want, out)
		}
	}
}
