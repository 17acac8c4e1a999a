package interopvm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/peers"
)

// The two hosts: Libreswan (l) and oemeshd (o) on a switch, in
// 198.18.0.0/24 (Libreswan's resolver answers 192.0.2.0/24's reverse zone
// itself).
var (
	addrL = netip.MustParseAddr("198.18.0.1")
	addrO = netip.MustParseAddr("198.18.0.2")
)

// needVM skips outside the VM (TestLibreswanOEInVM runs these inside it)
// and returns the peers' install and the directory holding oemeshd,
// oemesh and the RSA host key.
func needVM(t *testing.T) (*peers.Install, string) {
	t.Helper()
	if os.Getenv("OEMESH_IN_VM") == "" {
		t.Skip("runs inside the VM only (needs a kernel with ESP); TestLibreswanOEInVM starts it there")
	}
	files := os.Getenv("OEMESH_VM_FILES")
	if files == "" {
		t.Fatal("OEMESH_VM_FILES is not set: TestLibreswanOEInVM's script sets it")
	}
	return peers.Require(t), files
}

// bed is the two-host topology with a capture on its switch.
type bed struct {
	lab  *lab.Lab
	sw   *lab.Node
	l, o *lab.Node
}

var bedN atomic.Int32

func newBed(t *testing.T) *bed {
	t.Helper()
	l, err := lab.New(fmt.Sprintf("ivm%d-%d", os.Getpid()%100000, bedN.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	b := &bed{lab: l}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	b.sw, err = l.AddSwitch("sw")
	must(err)
	b.l, err = l.AddHost("l")
	must(err)
	b.o, err = l.AddHost("o")
	must(err)
	must(l.Connect(b.l, b.sw, "eth0", netip.PrefixFrom(addrL, 24).String()))
	must(l.Connect(b.o, b.sw, "eth0", netip.PrefixFrom(addrO, 24).String()))
	return b
}

// oemeshd is one daemon run in a namespace.
type oemeshd struct {
	t      *testing.T
	files  string
	dir    string
	socket string
	log    string
	cmd    *exec.Cmd
	done   chan error
}

// startOemeshd writes a configuration (policy files, host key unless
// hostKey is "", the lab DNS server at dns) and starts oemeshd in node
// with dataplane auto.
func startOemeshd(t *testing.T, files string, node *lab.Node, dns netip.AddrPort, hostKey string, policies map[string]string, extra string) *oemeshd {
	t.Helper()
	return startOemeshdDNS(t, files, node, dns, dnsOptions{}, hostKey, policies, extra)
}

// dnsOptions are the DNS settings of startOemeshdDNS.
type dnsOptions struct {
	// Stub, when valid, is dns.stub.listen.
	Stub netip.AddrPort
	// Timeout is dns.timeout; zero means 1 s.
	Timeout time.Duration
}

// startOemeshdDNS is startOemeshd with DNS settings of its own.
func startOemeshdDNS(t *testing.T, files string, node *lab.Node, dns netip.AddrPort, opts dnsOptions, hostKey string, policies map[string]string, extra string) *oemeshd {
	t.Helper()
	stubLine := ""
	if opts.Stub.IsValid() {
		stubLine = "  stub:\n    listen: " + opts.Stub.String() + "\n"
	}
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = time.Second
	}
	dir, err := os.MkdirTemp("", "ivm-oemeshd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o755); err != nil {
		t.Fatal(err)
	}
	for g, body := range policies {
		if err := os.WriteFile(filepath.Join(dir, "policies", g), []byte(body+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if hostKey != "" { // "": no host key (oe.null_auth: only)
		copyKey(t, hostKey, filepath.Join(dir, "hostkey.pem"))
	}
	d := &oemeshd{t: t, files: files, dir: dir, socket: filepath.Join(dir, "oemeshd.sock"), log: filepath.Join(dir, "oemeshd.log"), done: make(chan error, 1)}
	cfg := fmt.Sprintf(`hostkey: %s
policies: %s
control_socket: %s
dataplane: auto
dns:
  servers: [%s]
  require_dnssec: false
  timeout: %s
%slog:
  level: debug
%s`, filepath.Join(dir, "hostkey.pem"), filepath.Join(dir, "policies"), d.socket, dns, timeout, stubLine, extra)
	cfgPath := filepath.Join(dir, "oemesh.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command("ip", "netns", "exec", node.NSName, filepath.Join(files, "oemeshd"), "--config", cfgPath)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	// oemeshd reads OEMESH_* variables as configuration and refuses
	// unknown ones: it must not see the test's OEMESH_IN_VM.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OEMESH_") {
			d.cmd.Env = append(d.cmd.Env, kv)
		}
	}
	if err := d.cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start oemeshd: %v", err)
	}
	go func() { d.done <- d.cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
			t.Errorf("oemeshd in %s did not stop within 10 s of SIGTERM", node.NSName)
		}
		if t.Failed() {
			t.Logf("oemeshd log (last 80 lines):\n%s", tail(d.Log(), 80))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-d.done:
			d.done <- err
			t.Fatalf("oemeshd exited: %v\n%s", err, d.Log())
		default:
		}
		if _, err := os.Stat(d.socket); err == nil {
			if _, err := d.CLI(context.Background(), "status"); err == nil {
				return d
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("oemeshd did not answer on its control socket within 30 s:\n%s", d.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *oemeshd) Log() string {
	b, _ := os.ReadFile(d.log)
	return string(b)
}

// CLI runs `oemesh --socket ... args...`.
func (d *oemeshd) CLI(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(d.files, "oemesh"), append([]string{"--socket", d.socket}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("oemesh %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (d *oemeshd) Status(ctx context.Context) control.Status {
	d.t.Helper()
	out, err := d.CLI(ctx, "status", "--json")
	if err != nil {
		d.t.Fatal(err)
	}
	var s control.Status
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		d.t.Fatalf("oemesh status --json: %v\n%s", err, out)
	}
	return s
}

func (d *oemeshd) Traffic(ctx context.Context) []control.TunnelStatus {
	d.t.Helper()
	out, err := d.CLI(ctx, "traffic", "--json")
	if err != nil {
		d.t.Fatal(err)
	}
	var ts []control.TunnelStatus
	if err := json.Unmarshal([]byte(out), &ts); err != nil {
		d.t.Fatalf("oemesh traffic --json: %v\n%s", err, out)
	}
	return ts
}

// WaitTunnel waits until oemeshd lists an SA pair with peer.
func (d *oemeshd) WaitTunnel(ctx context.Context, peer netip.Addr) control.TunnelStatus {
	d.t.Helper()
	for {
		for _, tn := range d.Traffic(ctx) {
			if tn.Peer == peer.String() {
				return tn
			}
		}
		select {
		case <-ctx.Done():
			d.t.Fatalf("oemeshd has no tunnel with %s: %v", peer, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// ping sends count echo requests from node to dst and returns how many
// were answered.
func ping(ctx context.Context, node *lab.Node, dst netip.Addr, count int) (int, string) {
	out, _ := node.Command(ctx, "ping", "-n", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "2", dst.String()).CombinedOutput()
	return strings.Count(string(out), "bytes from"), string(out)
}

// copyKey copies a host key file with mode 0600 (oemesh refuses keys
// others may read; the VM's share gives files 0755).
func copyKey(t *testing.T, src, dst string) {
	t.Helper()
	key, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, key, 0o600); err != nil {
		t.Fatal(err)
	}
}
