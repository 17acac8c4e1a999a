package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/testbin"
)

var binDir string // oemeshd, oemesh and oemesh-lab, built once by TestMain

// TestMain builds oemeshd, oemesh and oemesh-lab side by side (as root
// only: the tests that run them need root), in a directory others can
// read, since one test runs the lab as nobody.
func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		os.Exit(m.Run())
	}
	dir, remove, err := testbin.BuildTemp("oemeshd", "oemesh", "oemesh-lab")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	remove()
	os.Exit(code)
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces); CI runs as root")
	}
}

// leftovers lists namespaces whose names start with prefix.
func leftovers(prefix string) []string {
	var out []string
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix+"-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestRunEndToEnd runs `oemesh-lab run --json` once and checks every
// flow's outcome (not its timing) against the scenarios of issue 8, then
// that nothing is left behind.
func TestRunEndToEnd(t *testing.T) {
	needRoot(t)
	bin := binDir
	prefix := fmt.Sprintf("olt%d", os.Getpid()%100000)
	work := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "oemesh-lab"), "run", "--json", "--prefix", prefix, "--workdir", work)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t.Cleanup(func() {
		for _, ns := range leftovers(prefix) {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	err := cmd.Run()
	if err != nil {
		t.Errorf("oemesh-lab run: %v\nstderr:\n%s", err, stderr.String())
	}
	var res Results
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("decoding the JSON results: %v\n%s", err, stdout.String())
	}
	want := []struct{ flow, family, group, outcome string }{
		{"a → d", "IPv4", "private-or-clear", "clear"},
		{"a → b", "IPv4", "private-or-clear", "encrypted"},
		{"a → b", "IPv6", "private-or-clear", "encrypted"},
		{"a → e", "IPv4", "private-or-clear", "encrypted"},
		{"a → e", "IPv6", "private-or-clear", "encrypted"},
		{"a → c", "IPv4", "clear", "clear"},
		{"a → c", "IPv6", "block", "dropped"},
		{"a → d", "IPv6", "private", "dropped"},
		{"c → b", "IPv4", "private-or-clear", "clear"},
		{"a → d", "IPv6", "private", "encrypted"},
		{"a → b", "IPv4", "private-or-clear", "encrypted"},
		{"a → b", "IPv4", "block", "dropped"},
	}
	if len(res.Flows) != len(want) {
		t.Fatalf("%d flows, want %d:\n%s", len(res.Flows), len(want), stdout.String())
	}
	for i, w := range want {
		r := res.Flows[i]
		if r.Flow != w.flow || r.Family != w.family || r.Group != w.group || r.Outcome != w.outcome || !r.OK {
			t.Errorf("flow %d: %s %s group %s outcome %s ok %v; want %s %s group %s outcome %s",
				i+1, r.Flow, r.Family, r.Group, r.Outcome, r.OK, w.flow, w.family, w.group, w.outcome)
		}
		switch w.outcome {
		case "encrypted":
			if r.Lost != 0 || r.Clear != 0 || r.ESP < 2*r.Sent {
				t.Errorf("flow %d (%s %s): lost %d, clear %d, ESP %d of %d echoes", i+1, r.Flow, r.Family, r.Lost, r.Clear, r.ESP, r.Sent)
			}
			if r.KeyExchanges != lab.DefaultKeyExchanges || r.ExpectKeyExchanges != lab.DefaultKeyExchanges {
				t.Errorf("flow %d (%s %s): key exchanges %q (expected by the lab %q), want %q", i+1, r.Flow, r.Family, r.KeyExchanges, r.ExpectKeyExchanges, lab.DefaultKeyExchanges)
			}
		case "dropped":
			if r.Clear != 0 || r.Received != 0 {
				t.Errorf("flow %d (%s %s): dropped flow let %d cleartext packets out, %d answered", i+1, r.Flow, r.Family, r.Clear, r.Received)
			}
		case "clear":
			if r.ESP != 0 || r.Clear != 2*r.Sent {
				t.Errorf("flow %d (%s %s): clear flow: ESP %d, cleartext %d for %d echoes", i+1, r.Flow, r.Family, r.ESP, r.Clear, r.Sent)
			}
		}
	}
	// a's SA list: the gateway flows are tunnel mode to g with e as the
	// remote selector; the host flows are transport mode.
	for _, w := range []string{"tunnel     198.18.1.10-198.18.1.10", "transport  198.18.0.2-198.18.0.2", "transport  2001:db8:1::4-2001:db8:1::4"} {
		if !strings.Contains(strings.Join(strings.Fields(res.Traffic), " "), strings.Join(strings.Fields(w), " ")) {
			t.Errorf("a's oemesh traffic lacks %q:\n%s", w, res.Traffic)
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr.String())
	}
	if left := leftovers(prefix); len(left) > 0 {
		t.Errorf("namespaces left behind: %v", left)
	}
}

// TestInterruptCleansUp sends SIGINT while the scenarios run: the lab
// exits 130 and leaves no namespace, daemon or temporary directory.
func TestInterruptCleansUp(t *testing.T) {
	needRoot(t)
	bin := binDir
	prefix := fmt.Sprintf("oli%d", os.Getpid()%100000)
	cmd := exec.Command(filepath.Join(bin, "oemesh-lab"), "run", "--prefix", prefix)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, ns := range leftovers(prefix) {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var workDir string
	lines := bufio.NewScanner(stderr)
	up := false
	for lines.Scan() {
		line := lines.Text()
		if _, rest, ok := strings.Cut(line, "configuration in "); ok {
			workDir = strings.TrimSuffix(rest, ")")
		}
		if strings.Contains(line, "mesh up") {
			up = true
			break
		}
	}
	if !up {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("oemesh-lab never said the mesh was up")
	}
	if len(leftovers(prefix)) == 0 {
		t.Fatal("no namespaces while the mesh is up: the test would prove nothing")
	}
	time.Sleep(500 * time.Millisecond) // into the first scenario
	cmd.Process.Signal(syscall.SIGINT)
	go func() {
		for lines.Scan() {
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("oemesh-lab did not exit within 60 s of SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitSignal {
		t.Errorf("exit after SIGINT: %v, want status %d", err, exitSignal)
	}
	if left := leftovers(prefix); len(left) > 0 {
		t.Errorf("namespaces left after SIGINT: %v", left)
	}
	if workDir == "" {
		t.Error("oemesh-lab did not name its configuration directory")
	} else if _, err := os.Stat(workDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("work directory %s left after SIGINT (%v)", workDir, err)
	}
	out, _ := exec.Command("pgrep", "-f", "oemeshd --config "+workDir).Output()
	if len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("oemeshd processes left after SIGINT: %s", out)
	}
}

// TestPanicCleansUp: a panic once the mesh is up still removes the
// namespaces and daemons, and the panic is reported (exit status 2, Go's
// for an unrecovered panic).
func TestPanicCleansUp(t *testing.T) {
	needRoot(t)
	prefix := fmt.Sprintf("olp%d", os.Getpid()%100000)
	work := t.TempDir()
	t.Cleanup(func() {
		for _, ns := range leftovers(prefix) {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	})
	cmd := exec.Command(filepath.Join(binDir, "oemesh-lab"), "run", "--prefix", prefix, "--workdir", work, "--panic-after-build")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "panic: oemesh-lab: --panic-after-build") {
		t.Errorf("with --panic-after-build: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "mesh up") {
		t.Fatalf("the mesh never came up, so the test proves nothing:\n%s", out)
	}
	if left := leftovers(prefix); len(left) > 0 {
		t.Errorf("namespaces left after a panic: %v", left)
	}
	if pids, _ := exec.Command("pgrep", "-f", "oemeshd --config "+work).Output(); len(bytes.TrimSpace(pids)) > 0 {
		t.Errorf("oemeshd processes left after a panic: %s", pids)
	}
}

// TestCleanRemovesLeftovers: `oemesh-lab clean` removes namespaces a
// SIGKILLed run left, and the processes in them.
func TestCleanRemovesLeftovers(t *testing.T) {
	needRoot(t)
	prefix := fmt.Sprintf("olc%d", os.Getpid()%100000)
	ns := prefix + "-x"
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	sleeper := exec.Command("ip", "netns", "exec", ns, "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sleeper.Wait() }()
	time.Sleep(200 * time.Millisecond)
	out, err := exec.Command(filepath.Join(binDir, "oemesh-lab"), "clean", "--prefix", prefix).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "removed 1 namespaces") {
		t.Errorf("clean: %v: %s", err, out)
	}
	if left := leftovers(prefix); len(left) > 0 {
		t.Errorf("namespaces left after clean: %v", left)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		sleeper.Process.Kill()
		t.Error("the process in the namespace was not killed")
	}
}

// TestRefusesWithoutRoot runs the lab as nobody: it must say it needs root
// and exit 2 before touching anything.
func TestRefusesWithoutRoot(t *testing.T) {
	needRoot(t) // to switch to another user
	bin := binDir
	cmd := exec.Command(filepath.Join(bin, "oemesh-lab"), "run", "--bin", bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitSetup {
		t.Errorf("as nobody: %v, want exit status %d\n%s", err, exitSetup, out)
	}
	if !strings.Contains(string(out), "needs root") {
		t.Errorf("as nobody the message does not say root is needed:\n%s", out)
	}
}

func TestOutcome(t *testing.T) {
	for _, c := range []struct {
		r    FlowResult
		want string
	}{
		{FlowResult{Received: 5, ESP: 10}, "encrypted"},
		{FlowResult{Received: 3, Clear: 6}, "clear"},
		{FlowResult{Received: 0}, "dropped"},
		{FlowResult{Received: 0, Clear: 3}, "lost"},
		{FlowResult{Received: 4, ESP: 4, Clear: 2}, "mixed"},
		{FlowResult{Received: 4}, "unseen"},
	} {
		if got := outcome(c.r); got != c.want {
			t.Errorf("outcome(%+v) = %s, want %s", c.r, got, c.want)
		}
	}
}

func TestFirstRTT(t *testing.T) {
	out := "PING 198.18.0.2 (198.18.0.2) 56(84) bytes of data.\n64 bytes from 198.18.0.2: icmp_seq=1 ttl=64 time=4.21 ms\n64 bytes from 198.18.0.2: icmp_seq=2 ttl=64 time=0.081 ms\n"
	d, ok := firstRTT(out)
	if !ok || d != 4210*time.Microsecond {
		t.Errorf("firstRTT = %v, %v; want 4.21ms", d, ok)
	}
	if _, ok := firstRTT("64 bytes from 198.18.0.2: icmp_seq=2 ttl=64 time=0.081 ms\n"); ok {
		t.Error("firstRTT found a first echo in output without icmp_seq=1")
	}
}

// TestKeyExchangesOf: a flow's key exchanges come from the tunnels with
// its ESP peer whose remote selectors hold its destination.
func TestKeyExchangesOf(t *testing.T) {
	g, b := netip.MustParseAddr("198.18.0.5"), netip.MustParseAddr("198.18.0.2")
	ts := []control.TunnelStatus{
		{Peer: "198.18.0.5", Remote: []string{"198.18.1.0-198.18.1.255"}, KeyExchanges: "x25519+mlkem768"},
		{Peer: "198.18.0.2", Remote: []string{"198.18.0.2-198.18.0.2"}, KeyExchanges: "x25519"},
		{Peer: "2001:db8:1::2", Remote: []string{"2001:db8:1::2-2001:db8:1::2"}, KeyExchanges: "mlkem768"},
	}
	for _, tc := range []struct {
		peer, dst netip.Addr
		ts        []control.TunnelStatus
		want      string
	}{
		{g, netip.MustParseAddr("198.18.1.10"), ts, "x25519+mlkem768"},
		{b, b, ts, "x25519"},
		{g, netip.MustParseAddr("198.18.2.10"), ts, ""}, // outside g's selectors
		{netip.MustParseAddr("198.18.0.9"), b, ts, ""},
		{b, b, append(ts, control.TunnelStatus{Peer: "198.18.0.2", Remote: []string{"198.18.0.2-198.18.0.2"}, KeyExchanges: "x25519+mlkem768"}),
			"x25519,x25519+mlkem768"},
	} {
		if got := keyExchangesOf(tc.ts, tc.peer, tc.dst); got != tc.want {
			t.Errorf("%v via %v: %q, want %q", tc.dst, tc.peer, got, tc.want)
		}
	}
}

// TestTableKeyExchanges: an encrypted flow's row shows its key exchanges,
// and one keyed otherwise than expected is UNEXPECTED.
func TestTableKeyExchanges(t *testing.T) {
	ms := 4.5
	res := &Results{Flows: []FlowResult{
		{Flow: "a → b", Family: "IPv4", Group: "private-or-clear", Expect: "encrypted", Outcome: "encrypted", OK: true, Sent: 5, ESP: 10, FirstMS: &ms,
			KeyExchanges: "x25519+mlkem768", ExpectKeyExchanges: "x25519+mlkem768"},
		{Flow: "a → e", Family: "IPv4", Group: "private-or-clear", Expect: "encrypted", Outcome: "encrypted", Sent: 5, ESP: 10, FirstMS: &ms,
			KeyExchanges: "x25519", ExpectKeyExchanges: "x25519+mlkem768"},
		{Flow: "a → d", Family: "IPv4", Group: "private-or-clear", Expect: "clear", Outcome: "clear", OK: true, Sent: 3, Clear: 6},
	}}
	var b strings.Builder
	printTable(&b, res)
	rows := strings.Split(b.String(), "\n")[2:5]
	for i, want := range [][]string{
		{"encrypted x25519+mlkem768 4.5 ms", "ok"},
		{"encrypted x25519 4.5 ms", "UNEXPECTED: want key exchange x25519+mlkem768"},
		{"clear - -", "ok"},
	} {
		row := strings.Join(strings.Fields(rows[i]), " ")
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("row %d lacks %q: %s", i+1, w, row)
			}
		}
	}
}

// TestFlowOK: an encrypted flow keyed otherwise than expected is not OK,
// however well its packets went.
func TestFlowOK(t *testing.T) {
	ms := 3.0
	enc := FlowResult{Expect: "encrypted", Outcome: "encrypted", FirstMS: &ms, KeyExchanges: "x25519+mlkem768", ExpectKeyExchanges: "x25519+mlkem768"}
	if !flowOK(enc) {
		t.Errorf("%+v: not OK", enc)
	}
	for _, bad := range []func(*FlowResult){
		func(r *FlowResult) { r.KeyExchanges = "x25519" },
		func(r *FlowResult) { r.KeyExchanges = "" },
		func(r *FlowResult) { r.KeyExchanges = "x25519,x25519+mlkem768" },
		func(r *FlowResult) { r.Lost = 1 },
		func(r *FlowResult) { r.FirstMS = nil },
		func(r *FlowResult) { r.Outcome = "clear" },
	} {
		r := enc
		bad(&r)
		if flowOK(r) {
			t.Errorf("%+v: OK", r)
		}
	}
	if clear := (FlowResult{Expect: "clear", Outcome: "clear"}); !flowOK(clear) {
		t.Errorf("%+v: not OK", clear)
	}
}
