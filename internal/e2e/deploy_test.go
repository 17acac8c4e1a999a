package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// The deployment guide, docs/deploy.md, tested as written: every fenced sh
// block after a `<!-- run: HOST... -->` marker runs, in the guide's order,
// on the named hosts of a namespace lab shaped as the guide draws it: west
// and east on two networks with a router between them, and ns, the DNS
// server, on a third. Each host sees its own /etc/oemesh, /etc/ipsec.d,
// /etc/knot, /etc/unbound, /var/lib/knot, /run/knot, /run/oemesh, /root
// and /etc/resolv.conf (bind mounts in the mount namespace `ip netns
// exec` makes), so the guide's paths are used unchanged and the machine's
// own files are never touched. What a lab cannot do as a machine would is replaced by
// shell functions: systemctl starts the daemon the unit would, with the
// unit's configuration path, and waits until it is ready; scp copies
// between the hosts' /root.

const deployGuide = "../../docs/deploy.md"

// guideStep is one marked block of the guide.
type guideStep struct {
	hosts  []string
	script string
	line   int // of the marker, for messages
}

var runMarker = regexp.MustCompile(`^<!-- run: ([a-z ]+) -->$`)

// guideSteps reads the marked blocks of the guide in order.
func guideSteps(t *testing.T) []guideStep {
	t.Helper()
	f, err := os.Open(deployGuide)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []guideStep
	var cur *guideStep
	inBlock := false
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case inBlock && line == "```":
			steps = append(steps, *cur)
			cur, inBlock = nil, false
		case inBlock:
			cur.script += line + "\n"
		case cur != nil && line == "```sh":
			inBlock = true
		case cur != nil:
			t.Fatalf("%s:%d: a run marker must be followed by a ```sh block, found %q", deployGuide, cur.line, line)
		default:
			if m := runMarker.FindStringSubmatch(line); m != nil {
				cur = &guideStep{hosts: strings.Fields(m[1]), line: n}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: the block after this marker does not end", deployGuide, cur.line)
	}
	return steps
}

// TestDeployGuideLogLines: every quoted text in the second column of the
// guide's failure table ("what the log says") is in oemeshd's source, so
// that the table quotes the messages an operator will see.
func TestDeployGuideLogLines(t *testing.T) {
	b, err := os.ReadFile(deployGuide)
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "| symptom | what the log says")
	if !ok {
		t.Fatalf("%s: no failure table", deployGuide)
	}
	var quoted []string
	for _, row := range strings.Split(table, "\n")[2:] {
		cols := strings.Split(row, " | ")
		if !strings.HasPrefix(row, "|") || len(cols) < 3 {
			break
		}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(cols[1], -1) {
			quoted = append(quoted, m[1])
		}
	}
	if len(quoted) < 8 {
		t.Fatalf("%s: only %d quoted texts in the failure table: %q", deployGuide, len(quoted), quoted)
	}
	var source strings.Builder
	err = filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		source.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range quoted {
		if !strings.Contains(source.String(), q) {
			t.Errorf("%s's failure table quotes %q, which no message in the source holds", deployGuide, q)
		}
	}
}

// deployDirs are the directories each lab host has its own copy of.
var deployDirs = []string{"/etc/oemesh", "/etc/ipsec.d", "/etc/knot", "/etc/unbound", "/var/lib/knot", "/run/knot", "/run/oemesh", "/root"}

// deployShell is prepended to every block: each host's directories, and
// the systemctl and scp the lab stands in for.
const deployShell = `set -euo pipefail
export PATH=%[1]s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
lab=%[2]s host=%[3]s
for d in %[4]s; do mount --bind "$lab/$host$d" "$d"; done
mount --bind "$lab/$host/resolv.conf" /etc/resolv.conf
cd /root

# scp FILE... HOST:/root/ copies into that host's /root.
scp() {
	local dst=${@: -1}
	[ "${dst#*:}" = /root/ ] || { echo "scp (lab): only HOST:/root/ destinations, not $dst" >&2; return 1; }
	cp "${@:1:$#-1}" "$lab/${dst%%%%:*}/root/"
}

# systemctl VERB... UNIT starts the unit's daemon afresh (restart, start,
# enable --now), with the configuration its unit reads, and returns once it
# is ready, as for Type=notify units.
systemctl() {
	local unit="" a
	for a; do case $a in knot|unbound|oemeshd) unit=$a;; esac; done
	[ -n "$unit" ] || { echo "systemctl (lab): no unit of this guide in: $*" >&2; return 1; }
	local pidf=$lab/$host/$unit.pid log=$lab/$host/$unit.log
	if [ -s "$pidf" ]; then
		kill "$(cat "$pidf")" 2>/dev/null || true
		while kill -0 "$(cat "$pidf")" 2>/dev/null; do sleep 0.1; done
	fi
	case $unit in
	knot)    # as Debian's unit: user knot, allowed port 53, /run/knot its runtime directory
		chown knot:knot /run/knot
		setsid setpriv --reuid=knot --regid=knot --clear-groups --inh-caps=+net_bind_service --ambient-caps=+net_bind_service knotd -c /etc/knot/knot.conf >>"$log" 2>&1 </dev/null & ;;
	unbound) setsid unbound -d -c /etc/unbound/unbound.conf >>"$log" 2>&1 </dev/null & ;;
	oemeshd) setsid oemeshd >>"$log" 2>&1 </dev/null & ;;
	esac
	echo $! > "$pidf"
	for _ in $(seq 200); do
		case $unit in
		knot)    knotc status >/dev/null 2>&1 && return 0 ;;
		unbound) (exec 3<>/dev/tcp/127.0.0.1/53) 2>/dev/null && return 0 ;;
		oemeshd) oemesh status >/dev/null 2>&1 && return 0 ;;
		esac
		kill -0 "$(cat "$pidf")" 2>/dev/null || { echo "$unit exited:" >&2; tail -20 "$log" >&2; return 1; }
		sleep 0.1
	done
	echo "$unit not ready after 20s:" >&2; tail -20 "$log" >&2; return 1
}

`

// deployUnboundConf stands in for Debian's /etc/unbound/unbound.conf,
// which includes unbound.conf.d/*.conf, with what a unit-less start in
// the foreground needs.
const deployUnboundConf = `server:
	username: ""
	chroot: ""
	directory: "/etc/unbound"
	pidfile: ""
	do-daemonize: no
	use-syslog: no
	num-threads: 1
remote-control:
	control-enable: no
include: "/etc/unbound/unbound.conf.d/*.conf"
`

// TestDeployGuide runs docs/deploy.md's commands on its two hosts and
// checks what its step 8 promises: the ping from west to east is answered,
// and the router between them sees ESP and no cleartext ICMP.
func TestDeployGuide(t *testing.T) {
	steps := guideSteps(t)
	if len(steps) < 8 {
		t.Fatalf("%s: only %d marked blocks", deployGuide, len(steps))
	}
	for _, tool := range []string{"knotd", "knotc", "keymgr", "unbound", "nft", "iptables", "drill", "setsid"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run `make deps` (scripts/apt-packages.txt)", tool)
		}
	}
	west, east, nsAddr := netip.MustParseAddr("198.51.100.10"), netip.MustParseAddr("203.0.113.20"), "192.0.2.53"

	// The mount points must exist; those this test makes it removes.
	for _, d := range deployDirs {
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(d) })
		}
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil { // unbound and knot read their files as their users
		t.Fatal(err)
	}
	hosts := []string{"west", "east", "ns"}
	for _, h := range hosts {
		for _, d := range deployDirs {
			if err := os.MkdirAll(filepath.Join(root, h, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(root, h, "/etc/unbound/unbound.conf.d"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, h, "/etc/unbound/unbound.conf"), []byte(deployUnboundConf), 0o644); err != nil {
			t.Fatal(err)
		}
		// Its own resolv.conf, which the guide points at the DNS stub on west.
		if err := os.WriteFile(filepath.Join(root, h, "resolv.conf"), []byte("nameserver 127.0.0.1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	l, err := lab.New(fmt.Sprintf("omdep%d", os.Getpid()%100000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	nodes := map[string]*lab.Node{}
	for _, h := range append(hosts, "router") {
		if nodes[h], err = l.AddHost(h); err != nil {
			t.Fatal(err)
		}
	}
	for _, link := range []struct{ host, addr, rIf, rAddr string }{
		{"west", "198.51.100.10/24", "to-west", "198.51.100.1/24"},
		{"east", "203.0.113.20/24", "to-east", "203.0.113.1/24"},
		{"ns", nsAddr + "/24", "to-ns", "192.0.2.1/24"},
	} {
		if err := l.Link(nodes[link.host], "eth0", []string{link.addr}, nodes["router"], link.rIf, []string{link.rAddr}); err != nil {
			t.Fatal(err)
		}
		gw, _, _ := strings.Cut(link.rAddr, "/")
		if err := nodes[link.host].Route("0.0.0.0/0", gw); err != nil {
			t.Fatal(err)
		}
	}
	if err := nodes["router"].Sysctl("net/ipv4/ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	// The daemons the blocks start go first, before the namespaces.
	t.Cleanup(func() { stopDeployDaemons(t, root, hosts) })

	var capture *lab.Capture
	ctx := ctxT(t, 3*time.Minute)
	for _, st := range steps {
		if strings.Contains(st.script, "ping -c") && capture == nil {
			if capture, err = lab.StartCapture(nodes["router"]); err != nil {
				t.Fatal(err)
			}
		}
		for _, h := range st.hosts {
			node, ok := nodes[h]
			if !ok || h == "router" {
				t.Fatalf("%s:%d: no host %q in the guide's lab", deployGuide, st.line, h)
			}
			script := fmt.Sprintf(deployShell, binDir, root, h, strings.Join(deployDirs, " ")) + st.script
			start := time.Now()
			out, err := node.Command(ctx, "bash", "-c", script).CombinedOutput()
			t.Logf("%s:%d on %s (%v):\n%s", deployGuide, st.line, h, time.Since(start).Round(time.Millisecond), out)
			if err != nil {
				t.Fatalf("%s:%d on %s: %v\n%s", deployGuide, st.line, h, err, deployLogs(root, hosts))
			}
		}
	}
	if capture == nil {
		t.Fatalf("%s: no block pings east", deployGuide)
	}
	time.Sleep(200 * time.Millisecond) // the last replies reach the capture
	c := capture.Stop()
	esp := c.Between(west, east, lab.KindESP)
	if clear := c.Between(west, east, lab.KindICMP); clear != 0 || esp < 6 {
		t.Fatalf("the router saw %d cleartext ICMP and %d ESP packets between west and east; want 0 and at least 6 (3 echoes, 3 replies): %v\n%s",
			clear, esp, c, deployLogs(root, hosts))
	}
	t.Logf("the router saw %d ESP packets between west and east, no cleartext ICMP", esp)
}

// deployLogs is the tail of every daemon's log, for failures.
func deployLogs(root string, hosts []string) string {
	var b strings.Builder
	for _, h := range hosts {
		logs, _ := filepath.Glob(filepath.Join(root, h, "*.log"))
		for _, p := range logs {
			data, _ := os.ReadFile(p)
			fmt.Fprintf(&b, "--- %s on %s:\n%s\n", filepath.Base(p), h, tail(string(data), 30))
		}
	}
	return b.String()
}

// stopDeployDaemons stops what the guide's systemctl started: SIGTERM,
// then SIGKILL after 5 s.
func stopDeployDaemons(t *testing.T, root string, hosts []string) {
	for _, h := range hosts {
		pids, _ := filepath.Glob(filepath.Join(root, h, "*.pid"))
		for _, p := range pids {
			b, err := os.ReadFile(p)
			if err != nil {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || pid <= 1 {
				continue
			}
			if syscall.Kill(pid, syscall.SIGTERM) != nil {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			for syscall.Kill(pid, 0) == nil && ctx.Err() == nil {
				time.Sleep(50 * time.Millisecond)
			}
			cancel()
			if syscall.Kill(pid, 0) == nil {
				t.Logf("%s on %s did not stop on SIGTERM: killed", filepath.Base(p), h)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}
