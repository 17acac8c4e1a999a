package e2e

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/oe/conn"
)

// The conn tests use the standard mesh: gateway g with client e behind it
// (198.18.1.0/24), and a client x the tests put behind gateway a
// (198.19.5.0/24). No policy group is set: only the conns encrypt.
var (
	netX  = netip.MustParsePrefix("198.19.5.0/24")
	addrX = netip.MustParseAddr("198.19.5.10")
	netE  = "198.18.1.0/24"
)

// addClientX puts namespace x behind gateway a, a forwarding.
func addClientX(t *testing.T, m *lab.Mesh) *lab.Node {
	t.Helper()
	x, err := m.Lab.AddHost("x")
	if err != nil {
		t.Fatal(err)
	}
	a := m.Hosts["a"].Node
	if err := m.Lab.Link(a, "eth1", []string{"198.19.5.1/24"}, x, "eth0", []string{addrX.String() + "/24"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Sysctl("net/ipv4/ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	if err := x.Route("0.0.0.0/0", "198.19.5.1"); err != nil {
		t.Fatal(err)
	}
	return x
}

func writePublicKey(t *testing.T, path string, k crypto.PublicKey) {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

func writeSecrets(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func connList(t *testing.T, m *lab.Mesh, ctx context.Context, host string) map[string]conn.Status {
	t.Helper()
	out, err := m.CLI(ctx, host, "--json", "conn", "list")
	if err != nil {
		t.Fatalf("conn list on %s: %v\n%s", host, err, out)
	}
	var cs []conn.Status
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatalf("conn list on %s: %v\n%s", host, err, out)
	}
	res := map[string]conn.Status{}
	for _, c := range cs {
		res[c.Name] = c
	}
	return res
}

func waitConn(t *testing.T, m *lab.Mesh, ctx context.Context, host, name string, d time.Duration, cond func(conn.Status) bool) conn.Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		c := connList(t, m, ctx, host)[name]
		if cond(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("conn %s on %s: timed out; last state %+v", name, host, c)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func pingFrom(ctx context.Context, n *lab.Node, dst string, count int) (int, string) {
	out, _ := n.Command(ctx, "ping", "-n", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1", dst).CombinedOutput()
	return strings.Count(string(out), "bytes from"), string(out)
}

const updownScript = `#!/bin/sh
{ echo "--- $PLUTO_VERB"; env | grep '^PLUTO_' | sort; } >> %s
`

// TestConnNetToNet: gateways a and g join x's and e's subnets with a
// pubkey conn (keys from PEM files). A ping from client x to client e is
// encrypted between the gateways; a ping from gateway a to gateway g is
// not (the conn covers subnet to subnet, as the FreeS/WAN FAQ explains).
// updown gets the FreeS/WAN environment; after g's daemon is killed and
// restarted, a's DPD (action restart) brings the tunnel back.
func TestConnNetToNet(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 150*time.Second)
	x := addClientX(t, m)
	a, g, e := m.Hosts["a"], m.Hosts["g"], m.Hosts["e"]
	writePublicKey(t, filepath.Join(a.Dir, "g.pem"), g.Key.Public())
	writePublicKey(t, filepath.Join(g.Dir, "a.pem"), a.Key.Public())
	envLog := filepath.Join(a.Dir, "updown.env")
	script := filepath.Join(a.Dir, "updown.sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(updownScript, envLog)), 0o755); err != nil {
		t.Fatal(err)
	}
	gConf := lab.HostConfig{Extra: fmt.Sprintf(`conns:
  - name: office-g
    local: %s
    remote: %s
    local_subnets: [%s]
    remote_subnets: [%s]
    remote_key: %s
    auto: add
`, g.Addr4, a.Addr4, netE, netX, filepath.Join(g.Dir, "a.pem"))}
	start(t, m, ctx, "g", gConf)
	// a runs OE beside the conn: its group covers e's subnet less
	// specifically than the conn does.
	start(t, m, ctx, "a", lab.HostConfig{Policies: map[string]string{"clear-or-private": "198.18.0.0/16\n"}, Extra: fmt.Sprintf(`conns:
  - name: office
    local: %s
    remote: %s
    local_subnets: [%s]
    remote_subnets: [%s]
    remote_key: %s
    auto: start
    keying_tries: 0
    dpd: {interval: 2s, action: restart}
    updown: %s
`, a.Addr4, g.Addr4, netX, netE, filepath.Join(a.Dir, "g.pem"), script)})
	first := waitConn(t, m, ctx, "a", "office", 20*time.Second, func(c conn.Status) bool { return c.State == "up" && c.Tunnels == 1 })
	if !first.Routed {
		t.Errorf("auto=start conn not routed: %+v", first)
	}
	waitConn(t, m, ctx, "g", "office-g", 5*time.Second, func(c conn.Status) bool { return c.State == "up" })

	c := capture(t, m)
	if n, out := pingFrom(ctx, x, e.Addr4.String(), 5); n != 5 {
		t.Fatalf("client x → client e: %d/5 answered\n%s", n, out)
	}
	counts := c.Settled()
	if n := counts.Between(a.Addr4, g.Addr4, lab.KindESP); n < 10 {
		t.Errorf("x → e: %d ESP packets between the gateways, want ≥ 10 (%v)", n, counts)
	}
	if n := counts.Between(addrX, e.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("x → e: %d cleartext ICMP packets of the clients on the wire", n)
	}
	c.Reset()
	if r := m.Ping(ctx, "a", g.Addr4, 3, 200*time.Millisecond); r.Received != 3 {
		t.Fatalf("gateway a → gateway g: %d/3\n%s", r.Received, r.Output)
	}
	counts = c.Settled()
	if n := counts.Between(a.Addr4, g.Addr4, lab.KindICMP); n != 6 {
		t.Errorf("gateway to gateway: %d cleartext ICMP packets, want 6 (not carried by the subnet tunnel) (%v)", n, counts)
	}
	if n := counts.Between(a.Addr4, g.Addr4, lab.KindESP); n != 0 {
		t.Errorf("gateway to gateway: %d ESP packets, want 0", n)
	}

	// The conn is named by policy explain, and status shows it.
	out, _ := m.CLI(ctx, "a", "policy", "explain", e.Addr4.String())
	if !strings.Contains(out, "conn office") || !strings.Contains(out, netE) {
		t.Errorf("policy explain %s:\n%s", e.Addr4, out)
	}
	out, _ = m.CLI(ctx, "a", "policy", "explain", g.Addr4.String())
	if !strings.Contains(out, "clear-or-private") || strings.Contains(out, "conn office") {
		t.Errorf("policy explain %s (the group's, not the conn's):\n%s", g.Addr4, out)
	}
	out, _ = m.CLI(ctx, "a", "status")
	if !strings.Contains(out, "conn office") || !strings.Contains(out, "up, routed") {
		t.Errorf("status:\n%s", out)
	}

	// updown ran up-client with the FreeS/WAN environment.
	env, _ := os.ReadFile(envLog)
	for _, want := range []string{"--- route-client", "--- up-client", "PLUTO_CONNECTION=office", "PLUTO_VERB=up-client",
		"PLUTO_PEER=" + g.Addr4.String(), "PLUTO_PEER_ID=" + g.Addr4.String(), "PLUTO_PEER_CLIENT=" + netE,
		"PLUTO_MY_CLIENT=" + netX.String(), "PLUTO_ME=" + a.Addr4.String(), "PLUTO_MY_CLIENT_NET=198.19.5.0",
		"PLUTO_MY_CLIENT_MASK=255.255.255.0", "PLUTO_PEER_PROTOCOL=0", "PLUTO_STACK=oemesh-userspace"} {
		if !strings.Contains(string(env), want+"\n") {
			t.Errorf("updown environment lacks %q:\n%s", want, env)
		}
	}

	// DPD restart: g dies without a Delete and comes back; a notices the
	// dead peer and renegotiates with the new g.
	if err := m.StopDaemon("g", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	start(t, m, ctx, "g", gConf)
	deadline := time.Now().Add(60 * time.Second)
	for {
		env, _ = os.ReadFile(envLog)
		if strings.Contains(string(env), "--- down-client") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a did not notice the dead peer (no down-client):\n%s", env)
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitConn(t, m, ctx, "a", "office", 30*time.Second, func(c conn.Status) bool { return c.State == "up" && c.Tunnels == 1 })
	if env, _ = os.ReadFile(envLog); strings.Count(string(env), "--- up-client") != 2 {
		t.Errorf("updown up-client runs: %d, want 2 (start, DPD restart)", strings.Count(string(env), "--- up-client"))
	}
	if n, out := pingFrom(ctx, x, e.Addr4.String(), 3); n != 3 {
		t.Errorf("after DPD restart: x → e %d/3\n%s", n, out)
	}

	// down keeps a routed conn routed; unroute removes the trap.
	if out, err := m.CLI(ctx, "a", "conn", "down", "office"); err != nil {
		t.Fatalf("conn down: %v\n%s", err, out)
	}
	st := waitConn(t, m, ctx, "a", "office", 5*time.Second, func(c conn.Status) bool { return c.Tunnels == 0 })
	if !st.Routed || st.State != "routed" {
		t.Errorf("after down: %+v", st)
	}
	if out, err := m.CLI(ctx, "a", "conn", "unroute", "office"); err != nil {
		t.Fatalf("conn unroute: %v\n%s", err, out)
	}
	if st := connList(t, m, ctx, "a")["office"]; st.Routed {
		t.Errorf("after unroute: %+v", st)
	}
	out, _ = m.CLI(ctx, "a", "policy", "explain", e.Addr4.String())
	if strings.Contains(out, "conn office") {
		t.Errorf("an unrouted conn still wins: %s", out)
	}
}

// TestConnRoadWarriorsPSK: gateway g serves road warriors b and c, each
// with its own ID and pre-shared key, both up at once (b by its trap,
// auto=route; c at start). Then d proves b's ID with b's key: with
// unique_ids, g replaces b's SA with d's.
func TestConnRoadWarriorsPSK(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{Keyed: []string{"a", "b", "c", "d", "g"}})
	ctx := ctxT(t, 120*time.Second)
	g, e := m.Hosts["g"], m.Hosts["e"]
	writePublicKey(t, filepath.Join(g.Dir, "alice.pem"), m.Hosts["a"].Key.Public())
	writePublicKey(t, filepath.Join(m.Hosts["a"].Dir, "g.pem"), g.Key.Public())
	gSecrets := filepath.Join(g.Dir, "ipsec.secrets")
	writeSecrets(t, gSecrets, fmt.Sprintf("%[1]s @rwb.example : PSK \"key of bob, long enough\"\n%[1]s @rwc.example : PSK \"carol's different key\"\n", g.Addr4))
	start(t, m, ctx, "g", lab.HostConfig{Extra: fmt.Sprintf(`conns:
  - name: rw-bob
    local: %[1]s
    remote: "%%any"
    remote_id: "@rwb.example"
    local_subnets: [%[2]s]
    auth: psk
    psk: %[3]s
    unique_ids: true
  - name: rw-carol
    local: %[1]s
    remote: "%%any"
    remote_id: "@rwc.example"
    local_subnets: [%[2]s]
    auth: psk
    psk: %[3]s
  - name: rw-alice
    local: %[1]s
    remote: "%%any"
    remote_id: "@rwa.example"
    local_subnets: [%[2]s]
    auth: pubkey
    remote_key: %[4]s
`, g.Addr4, netE, gSecrets, filepath.Join(g.Dir, "alice.pem"))})
	rw := func(host, id, key, auto string) lab.HostConfig {
		h := m.Hosts[host]
		sec := filepath.Join(h.Dir, "ipsec.secrets")
		writeSecrets(t, sec, fmt.Sprintf("%s %s : PSK \"%s\"\n", id, g.Addr4, key))
		return lab.HostConfig{Extra: fmt.Sprintf(`identity: "%s"
conns:
  - name: office
    local: %s
    remote: %s
    local_id: "%s"
    remote_subnets: [%s]
    auth: psk
    psk: %s
    auto: %s
`, id, h.Addr4, g.Addr4, id, netE, sec, auto)}
	}
	start(t, m, ctx, "b", rw("b", "@rwb.example", "key of bob, long enough", "route"))
	start(t, m, ctx, "c", rw("c", "@rwc.example", "carol's different key", "start"))
	// Alice authenticates with her key pair; g has her public key in a file.
	start(t, m, ctx, "a", lab.HostConfig{Extra: fmt.Sprintf(`identity: "@rwa.example"
conns:
  - name: office
    local: %s
    remote: %s
    remote_subnets: [%s]
    remote_key: %s
    auto: start
`, m.Hosts["a"].Addr4, g.Addr4, netE, filepath.Join(m.Hosts["a"].Dir, "g.pem"))})
	waitConn(t, m, ctx, "c", "office", 20*time.Second, func(c conn.Status) bool { return c.State == "up" })
	cap := capture(t, m)
	if r := m.Ping(ctx, "b", e.Addr4, 5, 200*time.Millisecond); r.Received < 4 {
		t.Fatalf("road warrior b → e (trap): %d/5\n%s", r.Received, r.Output)
	}
	if r := m.Ping(ctx, "c", e.Addr4, 3, 200*time.Millisecond); r.Received != 3 {
		t.Fatalf("road warrior c → e: %d/3\n%s", r.Received, r.Output)
	}
	counts := cap.Settled()
	for _, h := range []string{"b", "c"} {
		if n := counts.Between(m.Hosts[h].Addr4, e.Addr4, lab.KindICMP); n != 0 {
			t.Errorf("%s → e: %d cleartext ICMP packets", h, n)
		}
		if n := counts.Between(m.Hosts[h].Addr4, g.Addr4, lab.KindESP); n < 6 {
			t.Errorf("%s ↔ g: %d ESP packets", h, n)
		}
	}
	waitConn(t, m, ctx, "a", "office", 10*time.Second, func(c conn.Status) bool { return c.State == "up" })
	if r := m.Ping(ctx, "a", e.Addr4, 3, 200*time.Millisecond); r.Received != 3 {
		t.Errorf("road warrior a (pubkey) → e: %d/3\n%s", r.Received, r.Output)
	}
	gs := connList(t, m, ctx, "g")
	if gs["rw-bob"].Tunnels != 1 || gs["rw-carol"].Tunnels != 1 || gs["rw-alice"].Tunnels != 1 || gs["rw-bob"].Auth != "psk" || gs["rw-alice"].Auth != "key" {
		t.Fatalf("g's road warriors: %+v", gs)
	}
	if !strings.Contains(strings.Join(gs["rw-bob"].Peers, " "), m.Hosts["b"].Addr4.String()) {
		t.Errorf("rw-bob's peer is not b: %+v", gs["rw-bob"])
	}

	// unique_ids: d with bob's ID and key replaces b.
	d := m.Hosts["d"]
	start(t, m, ctx, "d", rw("d", "@rwb.example", "key of bob, long enough", "add"))
	if out, err := m.CLI(ctx, "d", "conn", "up", "office"); err != nil {
		t.Fatalf("conn up on d: %v\n%s", err, out)
	}
	st := waitConn(t, m, ctx, "g", "rw-bob", 10*time.Second, func(c conn.Status) bool {
		return c.Tunnels == 1 && strings.Contains(strings.Join(c.Peers, " "), d.Addr4.String())
	})
	if strings.Contains(strings.Join(st.Peers, " "), m.Hosts["b"].Addr4.String()) {
		t.Errorf("b's SA survived d's with the same ID: %+v", st)
	}
	// g removed b's SA without a Delete: d's INITIAL_CONTACT says the
	// holder of the ID restarted (RFC 7296 §2.4), so b is not told.
	if !strings.Contains(m.Log("g"), "INITIAL_CONTACT from ID_FQDN") {
		t.Errorf("g's log does not say why b's SA went")
	}
	if gs := connList(t, m, ctx, "g"); gs["rw-carol"].Tunnels != 1 {
		t.Errorf("carol lost her tunnel: %+v", gs["rw-carol"])
	}
	if r := m.Ping(ctx, "d", e.Addr4, 3, 200*time.Millisecond); r.Received != 3 {
		t.Errorf("d → e: %d/3\n%s", r.Received, r.Output)
	}
}

// TestConnKeyingTriesGiveUp: a's conn to b, which has no conn for a and
// refuses its PSK, gives up after keying_tries; status says why packets
// to the conn's subnet vanish. A secrets file others can read is refused
// by name and mode.
func TestConnKeyingTriesGiveUp(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	start(t, m, ctx, "b", lab.HostConfig{})
	sec := filepath.Join(a.Dir, "ipsec.secrets")
	writeSecrets(t, sec, fmt.Sprintf("%s %s : PSK \"nobody knows this one\"\n", a.Addr4, b.Addr4))
	conf := lab.HostConfig{Extra: fmt.Sprintf(`conns:
  - name: nowhere
    local: %s
    remote: %s
    remote_subnets: [198.19.9.0/24]
    auth: psk
    psk: %s
    auto: start
    keying_tries: 2
`, a.Addr4, b.Addr4, sec)}
	os.Chmod(sec, 0o644)
	if err := m.StartDaemon(ctx, "a", conf); err == nil || !strings.Contains(err.Error(), sec+" has mode 0644") {
		t.Fatalf("a readable secrets file: %v", err)
	}
	os.Chmod(sec, 0o600)
	start(t, m, ctx, "a", conf)
	st := waitConn(t, m, ctx, "a", "nowhere", 20*time.Second, func(c conn.Status) bool { return c.State == "gave-up" })
	if st.Tries != 2 || !strings.Contains(st.LastError, "gave up after 2 tries") || !strings.Contains(st.LastError, "AUTHENTICATION_FAILED") {
		t.Errorf("gave up: %+v", st)
	}
	out, _ := m.CLI(ctx, "a", "conn", "list")
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "nowhere") || !strings.Contains(out, "gave-up") || !strings.Contains(out, "2/2") {
		t.Errorf("conn list:\n%s", out)
	}
	out, _ = m.CLI(ctx, "a", "status")
	if !strings.Contains(out, "conn nowhere") || !strings.Contains(out, "gave-up, routed") || !strings.Contains(out, "gave up after 2 tries") {
		t.Errorf("status does not explain the vanishing packets:\n%s", out)
	}
	// conn add from a file without a restart; secrets reload.
	extra := filepath.Join(a.Dir, "more.yaml")
	os.WriteFile(extra, []byte(fmt.Sprintf("conns:\n  - name: later\n    remote: %s\n    local: %s\n    remote_subnets: [198.19.10.0/24]\n", b.Addr4, a.Addr4)), 0o644)
	if out, err := m.CLI(ctx, "a", "conn", "add", extra); err != nil || !strings.Contains(out, "added later") {
		t.Errorf("conn add: %v\n%s", err, out)
	}
	if st := connList(t, m, ctx, "a")["later"]; st.State != "added" || st.Routed {
		t.Errorf("added conn: %+v", st)
	}
	if out, err := m.CLI(ctx, "a", "secrets", "reload"); err != nil || !strings.Contains(out, "1 PSK conn") {
		t.Errorf("secrets reload: %v\n%s", err, out)
	}
	// route by hand, then replace from the edited file.
	if out, err := m.CLI(ctx, "a", "conn", "route", "later"); err != nil {
		t.Errorf("conn route: %v\n%s", err, out)
	}
	out, _ = m.CLI(ctx, "a", "policy", "explain", "198.19.10.7")
	if !strings.Contains(out, "conn later") {
		t.Errorf("policy explain after conn route:\n%s", out)
	}
	os.WriteFile(extra, []byte(fmt.Sprintf("conns:\n  - name: later\n    remote: %s\n    local: %s\n    remote_subnets: [198.19.11.0/24]\n    keying_tries: 7\n", b.Addr4, a.Addr4)), 0o644)
	if out, err := m.CLI(ctx, "a", "conn", "replace", "later"); err != nil {
		t.Errorf("conn replace: %v\n%s", err, out)
	}
	if st := connList(t, m, ctx, "a")["later"]; st.KeyingTries != 7 || st.RemoteSubnets[0] != "198.19.11.0/24" || st.Routed {
		t.Errorf("replaced conn: %+v", st)
	}
	var ee *exec.ExitError
	if out, err := m.CLI(ctx, "a", "conn", "up", "nosuch"); err == nil || !strings.Contains(out, "no conn nosuch") {
		t.Errorf("conn up nosuch: %v %v\n%s", err, ee, out)
	}
}
