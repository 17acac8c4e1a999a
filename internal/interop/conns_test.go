package interop

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
	"github.com/oemesh/oemesh/oe/conn"
)

// Net-to-net conns between oemeshd (namespace A, userspace data plane) and
// strongSwan (namespace B): A's subnet 198.19.1.0/24, B's 198.19.2.0/24.
const (
	connNetA = "198.19.1.0/24"
	connNetB = "198.19.2.0/24"
	connPSK  = "oemesh-conn-interop-psk-0123456789"
)

var (
	daemonOnce sync.Once
	daemonErr  error
)

// oemeshd builds the daemon beside the oemesh binary.
func oemeshd(t *testing.T) string {
	t.Helper()
	dir := filepath.Dir(oemesh(t))
	daemonOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "oemeshd"), "github.com/oemesh/oemesh/cmd/oemeshd").CombinedOutput()
		if err != nil {
			daemonErr = fmt.Errorf("go build cmd/oemeshd: %v\n%s", err, out)
		}
	})
	if daemonErr != nil {
		t.Fatal(daemonErr)
	}
	return filepath.Join(dir, "oemeshd")
}

// connDaemon is an oemeshd in a namespace with one conn.
type connDaemon struct {
	dir, socket string
	binDir      string
	ns          *netnstest.NS
	cmd         *exec.Cmd
}

func (d *connDaemon) cli(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(d.binDir, "oemesh"), append([]string{"--socket", d.socket}, args...)...).CombinedOutput()
	return string(out), err
}

func (d *connDaemon) log() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "oemeshd.log"))
	return string(b)
}

func (d *connDaemon) conn(t *testing.T, ctx context.Context, name string) conn.Status {
	t.Helper()
	out, err := d.cli(ctx, "--json", "conn", "list")
	if err != nil {
		t.Fatalf("conn list: %v\n%s", err, out)
	}
	var cs []conn.Status
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		t.Fatalf("conn list: %v\n%s", err, out)
	}
	for _, c := range cs {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no conn %s in %s", name, out)
	return conn.Status{}
}

// startConnDaemon writes a configuration with conn (YAML lines of one
// conns: entry) and starts oemeshd in ns.
func startConnDaemon(t *testing.T, ns *netnstest.NS, key crypto.Signer, conn string) *connDaemon {
	t.Helper()
	bin := oemeshd(t)
	dir := t.TempDir()
	d := &connDaemon{dir: dir, socket: filepath.Join(dir, "ctl.sock"), ns: ns, binDir: filepath.Dir(bin)}
	if err := dnskey.WriteHostKey(filepath.Join(dir, "hostkey.pem"), key, true); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "policies"), 0o755)
	cfg := fmt.Sprintf(`hostkey: %s
policies: %s
control_socket: %s
dataplane: userspace
dns:
  servers: ["127.0.0.1:53"]
  require_dnssec: false
log:
  level: debug
conns:
%s`, filepath.Join(dir, "hostkey.pem"), filepath.Join(dir, "policies"), d.socket, conn)
	cfgPath := filepath.Join(dir, "oemesh.yaml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	logf, err := os.Create(filepath.Join(dir, "oemeshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = ns.Command(context.Background(), bin, "--config", cfgPath)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { d.cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		d.cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("oemeshd log:\n%s", d.log())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		if _, err := os.Stat(d.socket); err == nil {
			if _, err := d.cli(ctx, "status"); err == nil {
				return d
			}
		}
		select {
		case <-done:
			t.Fatalf("oemeshd exited:\n%s", d.log())
		case <-ctx.Done():
			t.Fatalf("oemeshd did not come up:\n%s", d.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// connAuth is one way to authenticate a conn with strongSwan.
type connAuth struct {
	name          string
	ours, theirs  crypto.Signer
	local, remote peers.StrongSwanAuth
	psk           string
	yaml          string // the conn's auth keys
	sswAuthRe     string // strongSwan's log line for our AUTH
}

func connAuths(t *testing.T, dir string) []connAuth {
	sec := filepath.Join(dir, "ipsec.secrets")
	os.WriteFile(sec, []byte(fmt.Sprintf("192.0.2.1 192.0.2.2 : PSK %q\n", connPSK)), 0o600)
	ours, theirs := mustEd25519(t), mustEd25519(t)
	theirPub := writePub(t, dir, "ssw", theirs.Public())
	return []connAuth{
		{name: "psk", ours: mustEd25519(t), local: peers.StrongSwanAuth{Method: peers.AuthPSK, ID: "192.0.2.2"},
			remote: peers.StrongSwanAuth{Method: peers.AuthPSK, ID: "192.0.2.1"}, psk: connPSK,
			yaml: "    auth: psk\n    psk: " + sec + "\n", sswAuthRe: `authentication of '192\.0\.2\.1' with pre-shared key successful`},
		{name: "rawkey", ours: ours, theirs: theirs, local: peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: "192.0.2.2", Key: theirs},
			remote: peers.StrongSwanAuth{Method: peers.AuthPubkey, ID: "192.0.2.1", PublicKey: ours.Public()},
			yaml:   "    auth: pubkey\n    remote_key: " + theirPub + "\n", sswAuthRe: `authentication of '192\.0\.2\.1' with ED25519 successful`},
	}
}

func sswNetConn(a connAuth) peers.StrongSwanConn {
	return peers.StrongSwanConn{
		Name: "net", LocalAddrs: []string{"192.0.2.2"}, RemoteAddrs: []string{"192.0.2.1"},
		Proposals: []string{"aes128gcm16-prfsha256-x25519"}, Local: a.local, Remote: a.remote, PSK: a.psk,
		Children: []peers.StrongSwanChild{{Name: "net", LocalTS: []string{connNetB}, RemoteTS: []string{connNetA}, ESPProposals: []string{"aes128gcm16"}}},
	}
}

func ourNetConn(a connAuth, auto string) string {
	return fmt.Sprintf(`  - name: net
    local: 192.0.2.1
    remote: 192.0.2.2
    local_subnets: [%s]
    remote_subnets: [%s]
    ike: aes128gcm16-prfsha256-x25519
    esp: aes128gcm16
    keying_tries: 1
    auto: %s
%s`, connNetA, connNetB, auto, a.yaml)
}

// connPair is namespaces A (oemeshd) and B (strongSwan, kernel-libipsec)
// with an address of each side's subnet on the link: pings between them
// are the clients' traffic. kernel-libipsec also needs an address inside
// its local selector ("no local address found in traffic selector").
func connPair(t *testing.T, prefix string) *netnstest.Pair {
	net := netnstest.NewPair(t, prefix)
	net.A.Addr(t, net.ADev, netip.MustParsePrefix("198.19.1.1/24"))
	net.B.Addr(t, net.BDev, netip.MustParsePrefix("198.19.2.1/24"))
	return net
}

// pingThrough pings from one subnet address to the other and checks that
// strongSwan's CHILD SA counted the packets both ways.
func pingThrough(t *testing.T, ctx context.Context, ns *netnstest.NS, src, dst string, ssw *peers.StrongSwan) {
	t.Helper()
	out, err := ns.Command(ctx, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-I", src, dst).CombinedOutput()
	if n := strings.Count(string(out), "bytes from"); n != 3 {
		t.Fatalf("ping %s → %s through the conn: %d/3 (%v)\n%s", src, dst, n, err, out)
	}
	sa, err := ssw.WaitEstablished(ctx, "net", "net")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := sa.Child("net")
	if c.PacketsIn < 3 || c.PacketsOut < 3 || !c.Encap || c.Mode != "TUNNEL" {
		t.Errorf("strongSwan's CHILD SA: %+v, want ≥ 3 packets each way, UDP-encapsulated, tunnel mode", c)
	}
	if len(c.LocalTS) != 1 || c.LocalTS[0] != connNetB || len(c.RemoteTS) != 1 || c.RemoteTS[0] != connNetA {
		t.Errorf("strongSwan's selectors %v === %v, want %s === %s", c.LocalTS, c.RemoteTS, connNetB, connNetA)
	}
}

// TestConnStrongSwanInitiator: oemeshd brings a net-to-net conn up to
// strongSwan, authenticating with a PSK and with raw Ed25519 keys;
// strongSwan authenticates us and installs the CHILD SA with exactly the
// conn's subnets, and the subnets' traffic crosses it (ESP-in-UDP, which
// kernel-libipsec forces).
func TestConnStrongSwanInitiator(t *testing.T) {
	in := peers.Require(t)
	for _, a := range connAuths(t, t.TempDir()) {
		t.Run(a.name, func(t *testing.T) {
			net := connPair(t, "icni")
			ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{sswNetConn(a)}})
			d := startConnDaemon(t, net.A, a.ours, ourNetConn(a, "add"))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			mark := ssw.Log.Mark()
			if out, err := d.cli(ctx, "conn", "up", "net"); err != nil {
				t.Fatalf("oemesh conn up: %v\n%s", err, out)
			}
			if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(a.sswAuthRe)); err != nil {
				t.Errorf("strongSwan did not authenticate oemeshd: %v", err)
			}
			re := regexp.MustCompile(`CHILD_SA net\{\d+\} established .*TS ` + regexp.QuoteMeta(connNetB) + ` === ` + regexp.QuoteMeta(connNetA))
			if _, err := ssw.Log.WaitFrom(ctx, mark, re); err != nil {
				t.Errorf("strongSwan did not install the conn's CHILD SA (%s === %s): %v", connNetB, connNetA, err)
			}
			if st := d.conn(t, ctx, "net"); st.State != "up" || st.Tunnels != 1 {
				t.Errorf("conn on oemeshd: %+v", st)
			}
			pingThrough(t, ctx, net.A, "198.19.1.1", "198.19.2.1", ssw)
		})
	}
}

// TestConnStrongSwanResponder: strongSwan initiates the net-to-net conn;
// oemeshd answers as the conn says, authenticates strongSwan with the PSK
// or the raw key from the conn's key file, installs the CHILD SA with the
// conn's subnets, and strongSwan's clients reach ours through it.
func TestConnStrongSwanResponder(t *testing.T) {
	in := peers.Require(t)
	for _, a := range connAuths(t, t.TempDir()) {
		t.Run(a.name, func(t *testing.T) {
			net := connPair(t, "icnr")
			d := startConnDaemon(t, net.A, a.ours, ourNetConn(a, "add"))
			ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{sswNetConn(a)}})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			mark := ssw.Log.Mark()
			if lines, err := ssw.Initiate(ctx, "net", "net"); err != nil {
				t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
			}
			if _, err := ssw.Log.WaitFrom(ctx, mark, regexp.MustCompile(`authentication of '192\.0\.2\.1' with (pre-shared key|ED25519) successful`)); err != nil {
				t.Errorf("strongSwan did not authenticate oemeshd: %v", err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				st := d.conn(t, ctx, "net")
				if st.State == "up" && st.Tunnels == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("oemeshd did not bring conn net up as responder: %+v", st)
				}
				time.Sleep(50 * time.Millisecond)
			}
			pingThrough(t, ctx, net.B, "198.19.2.1", "198.19.1.1", ssw)
		})
	}
}
