package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// srcPrefix holds the initiators' addresses in every test bed: a local
// route in the generator's namespace, routed back by each responder.
const srcPrefix = "10.1.0.0/16"

// testbed is a generator namespace ("gen") linked directly to one
// namespace per responder: responder i is 10.0.i.2, the generator 10.0.i.1
// on that link.
type testbed struct {
	lab  *lab.Lab
	gen  *lab.Node
	resp []*lab.Node
}

func (b *testbed) respAddr(i int) string { return fmt.Sprintf("10.0.%d.2", i+1) }

func newTestbed(tb testing.TB, responders int) *testbed {
	tb.Helper()
	l, err := lab.New(fmt.Sprintf("ikl%d", os.Getpid()%100000))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	b := &testbed{lab: l}
	if b.gen, err = l.AddHost("gen"); err != nil {
		tb.Fatal(err)
	}
	// The whole prefix is the generator's own: no address per initiator.
	if out, err := exec.Command("ip", "-n", b.gen.NSName, "route", "add", "local", srcPrefix, "dev", "lo").CombinedOutput(); err != nil {
		tb.Fatalf("local route for %s: %v: %s", srcPrefix, err, out)
	}
	for range responders {
		b.addResponder(tb)
	}
	return b
}

// addResponder adds a responder namespace linked to the generator's and
// returns its index: a fresh one for each responder started keeps no
// state (routes, rules, TUN devices) from the one before.
func (b *testbed) addResponder(tb testing.TB) int {
	tb.Helper()
	i := len(b.resp)
	if i >= 250 {
		tb.Fatal("testbed: more than 250 responder namespaces")
	}
	r, err := b.lab.AddHost(fmt.Sprintf("r%d", i))
	if err != nil {
		tb.Fatal(err)
	}
	genIf := fmt.Sprintf("r%d", i)
	if err := b.lab.Link(b.gen, genIf, []string{fmt.Sprintf("10.0.%d.1/24", i+1)}, r, "eth0", []string{b.respAddr(i) + "/24"}); err != nil {
		tb.Fatal(err)
	}
	if err := r.Route(srcPrefix, fmt.Sprintf("10.0.%d.1", i+1)); err != nil {
		tb.Fatal(err)
	}
	b.resp = append(b.resp, r)
	return i
}

// loaderIn opens a loader's sockets in the generator's namespace.
func (b *testbed) loaderIn(tb testing.TB, cfg *config) *loader {
	tb.Helper()
	var l *loader
	err := b.gen.Do(func() error {
		var err error
		l, err = newLoader(context.Background(), cfg, nil)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.close() })
	return l
}

// process is a responder started in a namespace; its pid is the
// responder's own (ip netns exec execs it).
type process struct {
	cmd    *exec.Cmd
	waited chan error
	log    string
}

func startProcess(tb testing.TB, n *lab.Node, logPath, prog string, args ...string) *process {
	tb.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := n.Command(context.Background(), prog, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		tb.Fatalf("start %s: %v", prog, err)
	}
	p := &process{cmd: cmd, waited: make(chan error, 1), log: logPath}
	go func() { p.waited <- cmd.Wait(); f.Close() }()
	tb.Cleanup(func() { p.stop() })
	return p
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop ends the process (SIGTERM, then SIGKILL after 10 s); it is safe to
// call twice.
func (p *process) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.waited:
		p.waited <- err
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		p.waited <- <-p.waited
	}
}

// waitUDP waits until the process has a UDP socket bound to port (its
// own namespace's /proc/PID/net/udp), or it exits.
func (p *process) waitUDP(tb testing.TB, port int) {
	tb.Helper()
	hex := fmt.Sprintf(":%04X ", port)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-p.waited:
			p.waited <- err
			log, _ := os.ReadFile(p.log)
			tb.Fatalf("%s exited: %v\n%s", filepath.Base(p.cmd.Args[4]), err, log)
		default:
		}
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/udp", p.pid()))
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				fields := strings.Fields(sc.Text())
				if len(fields) > 1 && strings.HasSuffix(fields[1]+" ", hex) {
					f.Close()
					return
				}
			}
			f.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(p.log)
	tb.Fatalf("no UDP socket on port %d after 20 s\n%s", port, log)
}

// cpuTicks is the process's utime+stime in clock ticks (/proc/PID/stat).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields count from after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return ut + st, nil
}

// buildBinaries builds oemesh and oemeshd into a temporary directory
// unless IKELOAD_BIN names one that holds them.
func buildBinaries(tb testing.TB, progs ...string) string {
	tb.Helper()
	if dir := os.Getenv("IKELOAD_BIN"); dir != "" {
		return dir
	}
	dir := tb.TempDir()
	for _, p := range progs {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, p), "github.com/oemesh/oemesh/cmd/"+p).CombinedOutput()
		if err != nil {
			tb.Fatalf("building %s: %v\n%s", p, err, out)
		}
	}
	return dir
}
