package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/testbin"
)

// binaries builds oemesh and oemeshd once per test run.
var builtDir string

func TestMain(m *testing.M) {
	dir, remove, err := testbin.BuildTemp("oemesh", "oemeshd")
	if err != nil {
		panic(err)
	}
	builtDir = dir
	code := m.Run()
	remove()
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

func run(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(builtDir, bin), args...)
	cmd.Env = append(os.Environ(), "OEMESH_LOG_LEVEL=debug")
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	return result{so.String(), se.String(), code}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPolicyCheckOffline(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"private-or-clear": "192.0.2.0/24\n2001:db8::/32\n",
		"clear":            "192.0.2.1\n",
	})
	r := run(t, "oemesh", "policy", "check", "--dir", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "ok, 3 prefixes") {
		t.Fatalf("good dir: %+v", r)
	}
	writeFiles(t, dir, map[string]string{
		"private": "# c\n192.0.2.0/24\n10.0.0.300\n",
		"block":   "a b\n",
	})
	r = run(t, "oemesh", "policy", "check", "--dir", dir)
	if r.code != 1 {
		t.Fatalf("bad dir: exit %d, want 1: %+v", r.code, r)
	}
	for _, want := range []string{
		filepath.Join(dir, "private") + `:2: "192.0.2.0/24": also in group private-or-clear at ` + filepath.Join(dir, "private-or-clear") + ":1",
		filepath.Join(dir, "private") + `:3: "10.0.0.300": not a valid address`,
		filepath.Join(dir, "block") + `:1: "a b": one CIDR`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	r = run(t, "oemesh", "policy", "check", "--dir", filepath.Join(dir, "nope"))
	if r.code != 1 || !strings.Contains(r.stderr, "nope") {
		t.Errorf("missing dir: %+v", r)
	}
}

func TestPolicyExplainOffline(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"private-or-clear": "192.0.2.0/24\n",
		"clear":            "\n192.0.2.1/32\n",
	})
	r := run(t, "oemesh", "policy", "explain", "--dir", dir, "192.0.2.1")
	if r.code != 0 || r.stdout != "192.0.2.1: clear (192.0.2.1/32 at "+filepath.Join(dir, "clear")+":2)\n" {
		t.Errorf("explain: %+v", r)
	}
	r = run(t, "oemesh", "policy", "explain", "--dir", dir, "--json", "192.0.2.77")
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("json: %v: %q", err, r.stdout)
	}
	if got["address"] != "192.0.2.77" || got["group"] != "private-or-clear" || got["prefix"] != "192.0.2.0/24" ||
		got["source"] != filepath.Join(dir, "private-or-clear")+":1" {
		t.Errorf("json = %v", got)
	}
	r = run(t, "oemesh", "policy", "explain", "--dir", dir, "--json", "203.0.113.1")
	if strings.TrimSpace(strings.Join(strings.Fields(r.stdout), "")) != `{"address":"203.0.113.1","group":"clear","prefix":null,"source":"default"}` {
		t.Errorf("default json = %q", r.stdout)
	}
	r = run(t, "oemesh", "policy", "explain", "--dir", dir, "not-an-ip")
	if r.code != 1 || !strings.Contains(r.stderr, `"not-an-ip" is not an IP address`) {
		t.Errorf("bad address: %+v", r)
	}
}

func TestNoDaemon(t *testing.T) {
	r := run(t, "oemesh", "status", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	if r.code != 1 || !strings.Contains(r.stderr, "oemeshd is not running") {
		t.Errorf("no daemon: %+v", r)
	}
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policies")
	writeFiles(t, pol, map[string]string{"private": "192.0.2.0/24\n"})
	cfg := filepath.Join(dir, "oemesh.yaml")
	writeFiles(t, dir, map[string]string{"oemesh.yaml": "policies: " + pol + "\n"})
	r := run(t, "oemeshd", "--config", cfg, "--check-config")
	if r.code != 0 || !strings.Contains(r.stdout, "ok, 1 prefixes") {
		t.Errorf("good: %+v", r)
	}
	writeFiles(t, dir, map[string]string{"oemesh.yaml": "policies: " + pol + "\ndataplane: dpdk\nfoo: 1\n"})
	r = run(t, "oemeshd", "--config", cfg, "--check-config")
	if r.code != 1 || !strings.Contains(r.stderr, cfg+": key dataplane: must be one of auto, xfrm, userspace") ||
		!strings.Contains(r.stderr, cfg+`: unknown key "foo"`) {
		t.Errorf("bad config: %+v", r)
	}
	writeFiles(t, dir, map[string]string{"oemesh.yaml": "policies: " + pol + "\n"})
	writeFiles(t, pol, map[string]string{"block": "192.0.2.0/24\n"})
	r = run(t, "oemeshd", "--config", cfg, "--check-config")
	if r.code != 1 || !strings.Contains(r.stderr, filepath.Join(pol, "block")+`:1: "192.0.2.0/24": also in group private at `+filepath.Join(pol, "private")+":1") {
		t.Errorf("bad policy: %+v", r)
	}
	r = run(t, "oemeshd", "--config", filepath.Join(dir, "missing.yaml"), "--check-config")
	if r.code != 1 || !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("missing explicit config: %+v", r)
	}
	r = run(t, "oemeshd", "--config", cfg, "--check-config", "--dns-timeout=forever")
	if r.code != 1 || !strings.Contains(r.stderr, "--dns-timeout") {
		t.Errorf("bad flag: %+v", r)
	}
}

// daemonCmd runs oemeshd in a network namespace of its own (unshare -n),
// so that its data plane (TUN device, routes, XFRM policies) and IKE
// sockets never touch the host's network.
func daemonCmd(cfg string) *exec.Cmd { return daemonCmdFrom(builtDir, cfg) }

// daemonCmdFrom is daemonCmd with the oemeshd binary in bin.
func daemonCmdFrom(bin, cfg string) *exec.Cmd {
	return exec.Command("unshare", "-n", "--", filepath.Join(bin, "oemeshd"), "--config", cfg)
}

// daemon starts oemeshd with a private socket and policy directory.
type daemon struct {
	cmd    *exec.Cmd
	socket string
	pol    string
	stderr *bytes.Buffer
}

func startDaemon(t *testing.T, files map[string]string) *daemon {
	t.Helper()
	return startDaemonWith(t, files, "")
}

// startDaemonWith is startDaemon with extra configuration lines.
func startDaemonWith(t *testing.T, files map[string]string, extra string) *daemon {
	t.Helper()
	return startDaemonFrom(t, builtDir, files, extra)
}

// startDaemonFrom is startDaemonWith with the binaries in bin.
func startDaemonFrom(t *testing.T, bin string, files map[string]string, extra string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{socket: filepath.Join(dir, "run", "oemeshd.sock"), pol: filepath.Join(dir, "policies"), stderr: &bytes.Buffer{}}
	writeFiles(t, d.pol, files)
	cfg := filepath.Join(dir, "oemesh.yaml")
	key := filepath.Join(dir, "hostkey.pem")
	if r := run(t, "oemesh", "newhostkey", "--out", key); r.code != 0 {
		t.Fatalf("newhostkey: %+v", r)
	}
	writeFiles(t, dir, map[string]string{"oemesh.yaml": "policies: " + d.pol + "\ncontrol_socket: " + d.socket +
		"\nhostkey: " + key + "\ndns:\n  servers: [127.0.0.1:53]\nlog:\n  level: debug\n" + extra})
	d.cmd = daemonCmdFrom(bin, cfg)
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		d.cmd.Wait()
	})
	for i := 0; i < 200; i++ {
		if r := run(t, "oemesh", "--socket", d.socket, "status"); r.code == 0 {
			return d
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("daemon did not come up:\n%s", d.stderr)
	return nil
}

func (d *daemon) oemesh(t *testing.T, args ...string) result {
	return run(t, "oemesh", append([]string{"--socket", d.socket}, args...)...)
}

func TestDaemonLifecycle(t *testing.T) {
	d := startDaemon(t, map[string]string{"private-or-clear": "192.0.2.0/24\n", "clear": "192.0.2.1\n"})

	st, err := os.Stat(d.socket)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: %v %v", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Dir(d.socket)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode: %v %v", st.Mode(), err)
	}

	r := d.oemesh(t, "status", "--json")
	var status struct {
		Uptime string         `json:"uptime"`
		Config map[string]any `json:"config"`
		Policy struct {
			Counts map[string]int `json:"counts"`
		} `json:"policy"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &status); err != nil || r.code != 0 {
		t.Fatalf("status: %v %+v", err, r)
	}
	if status.Uptime == "" || status.Config["policies"] != d.pol || status.Policy.Counts["private-or-clear"] != 1 {
		t.Errorf("status = %+v", status)
	}
	if r := d.oemesh(t, "status"); !strings.Contains(r.stdout, "private-or-clear  1 prefixes") {
		t.Errorf("status text: %q", r.stdout)
	}

	r = d.oemesh(t, "policy", "explain", "192.0.2.9")
	if r.stdout != "192.0.2.9: private-or-clear (192.0.2.0/24 at "+filepath.Join(d.pol, "private-or-clear")+":1)\n" {
		t.Errorf("explain via daemon: %+v", r)
	}

	// Reload through the CLI picks up a change.
	writeFiles(t, d.pol, map[string]string{"private": "192.0.2.128/25\n"})
	r = d.oemesh(t, "policy", "reload")
	if r.code != 0 || !strings.Contains(r.stdout, "reloaded, 3 prefixes (1 added, 0 removed, 0 changed)") {
		t.Errorf("reload: %+v", r)
	}
	if r := d.oemesh(t, "policy", "explain", "192.0.2.200"); !strings.Contains(r.stdout, ": private (") {
		t.Errorf("after reload: %+v", r)
	}

	// A broken file on reload keeps the old policy and reports FILE:LINE.
	writeFiles(t, d.pol, map[string]string{"block": "\n192.0.2.0/33\n"})
	r = d.oemesh(t, "policy", "reload")
	if r.code != 1 || !strings.Contains(r.stderr, filepath.Join(d.pol, "block")+`:2: "192.0.2.0/33": not a valid CIDR`) {
		t.Errorf("broken reload: %+v", r)
	}
	if r := d.oemesh(t, "policy", "explain", "192.0.2.200"); !strings.Contains(r.stdout, ": private (") {
		t.Errorf("old policy not kept: %+v", r)
	}
	if r := d.oemesh(t, "policy", "check"); r.code != 1 || !strings.Contains(r.stderr, "block:2:") {
		t.Errorf("check via daemon: %+v", r)
	}

	// SIGHUP reloads too.
	writeFiles(t, d.pol, map[string]string{"block": "203.0.113.0/24\n"})
	d.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := d.oemesh(t, "policy", "explain", "203.0.113.5")
		if strings.Contains(r.stdout, ": block (") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload: %+v\n%s", r, d.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A second daemon on the same socket refuses to start.
	cfg := filepath.Join(filepath.Dir(d.pol), "oemesh.yaml")
	if r := run(t, "oemeshd", "--config", cfg, "--check-config"); r.code != 0 {
		t.Errorf("check-config beside a running daemon: %+v", r)
	}
	if r := run(t, "oemeshd", "--config", cfg); r.code != 1 || !strings.Contains(r.stderr, "another oemeshd is running") {
		t.Errorf("second daemon: %+v", r)
	}

	// SIGTERM: clean exit, socket removed.
	d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, d.stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not exit on SIGTERM")
	}
	if _, err := os.Stat(d.socket); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	if !strings.Contains(d.stderr.String(), "oemeshd stopping") {
		t.Errorf("log lacks stop line:\n%s", d.stderr)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	d := startDaemon(t, nil)
	d.cmd.Process.Kill() // SIGKILL leaves the socket file behind
	d.cmd.Wait()
	if _, err := os.Stat(d.socket); err != nil {
		t.Fatalf("expected a stale socket: %v", err)
	}
	cfg := filepath.Join(filepath.Dir(d.pol), "oemesh.yaml")
	cmd := daemonCmd(cfg)
	var se bytes.Buffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	for i := 0; i < 200; i++ {
		if r := d.oemesh(t, "status"); r.code == 0 {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("restart over a stale socket failed:\n%s", se.String())
}

func TestCompletionAndVersion(t *testing.T) {
	if r := run(t, "oemesh", "completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "oemesh") {
		t.Errorf("completion: %+v", r)
	}
	r := run(t, "oemesh", "version", "--json")
	var v map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v["go"] == "" {
		t.Errorf("version: %v %+v", err, r)
	}
}

// TestDNSExemption: the daemon's resolver (127.0.0.1:53 in startDaemon)
// inside private-or-clear is taken out of OE, `policy explain` says so and
// why, and --check-config warns about it (and about the deadlock when the
// exemption is off).
func TestDNSExemption(t *testing.T) {
	d := startDaemon(t, map[string]string{"private-or-clear": "127.0.0.0/8\n192.0.2.0/24\n"})
	r := d.oemesh(t, "policy", "explain", "127.0.0.1")
	if r.code != 0 || r.stdout != "127.0.0.1: clear-or-private (127.0.0.1/32: exempt from OE, DNS server from dns.servers)\n" {
		t.Errorf("explain the resolver: %+v", r)
	}
	r = d.oemesh(t, "policy", "explain", "--json", "127.0.0.1")
	var ex struct {
		Group, Source, Exemption string
	}
	if err := json.Unmarshal([]byte(r.stdout), &ex); err != nil || ex.Group != "clear-or-private" ||
		ex.Source != "oemeshd exemption" || ex.Exemption != "DNS server from dns.servers" {
		t.Errorf("explain --json: %v %+v", err, r)
	}
	if r := d.oemesh(t, "policy", "explain", "127.0.0.2"); !strings.HasPrefix(r.stdout, "127.0.0.2: private-or-clear (127.0.0.0/8 at ") {
		t.Errorf("a neighbour of the resolver: %+v", r)
	}
	// A reload keeps the exemption, and logs it again.
	if r := d.oemesh(t, "policy", "reload"); r.code != 0 {
		t.Errorf("reload: %+v", r)
	}
	if r := d.oemesh(t, "policy", "explain", "127.0.0.1"); !strings.Contains(r.stdout, "exempt from OE") {
		t.Errorf("after reload: %+v", r)
	}
	if n := strings.Count(d.stderr.String(), "exempt from OE"); n != 2 {
		t.Errorf("%d exemption log lines, want 2 (start, reload):\n%s", n, d.stderr)
	}

	cfg := filepath.Join(filepath.Dir(d.pol), "oemesh.yaml")
	r = run(t, "oemeshd", "--config", cfg, "--check-config")
	if r.code != 0 || !strings.Contains(r.stdout, "warning: 127.0.0.1 (DNS server from dns.servers) lies in private-or-clear 127.0.0.0/8 at "+
		filepath.Join(d.pol, "private-or-clear")+":1: oemeshd will exempt it from OE") {
		t.Errorf("check-config: %+v", r)
	}
	r = run(t, "oemeshd", "--config", cfg, "--check-config", "--dns-exempt-servers=false")
	if r.code != 0 || !strings.Contains(r.stdout, "dns.exempt_servers is off") {
		t.Errorf("check-config, exemption off: %+v", r)
	}
}
