// Command oelatency measures, on the standard OE mesh of internal/lab
// (network namespaces, the embedded DNS server, oemeshd on each host with
// the userspace data plane where the kernel has no ESP):
//
//   - the time from a flow's first packet to its SA installed, with a cold
//     DNS cache (both daemons restarted before each run) and a warm one
//     (`oemesh down` between runs, caches kept);
//   - the time to the clear fallback for a host without a key (cold cache:
//     the initiator restarted before each run).
//
// Each figure is the daemon's own "took" (from the trapped packet to the
// SA installed or the shunt set, as logged in "OE up" and "OE failed"
// lines) and the round trip of the first echo as ping saw it (which adds
// the echo's own trip). It reports the median, minimum and maximum of
// -runs runs. Run it as root through bench/oe-perf.sh; it creates
// namespaces "oelat<pid>-*" and removes them on exit.
//
// The cold series runs once per value of -pq, oemeshd's ike.pq setting
// (off: classical X25519; prefer: X25519 + ML-KEM-768 where the peer can,
// an IKE_INTERMEDIATE round trip more), given to both daemons, the values
// alternating within each run; it prints them side by side with their
// ratio to the first, and the key exchanges each IKE SA used as the
// initiator's `oemesh traffic --json` reports them. The warm and fallback
// series use the last value. An oemeshd without the ike.pq setting is
// measured with its default proposals alone.
//
// Then issue 16's DNS-triggered prestart (prestart.go), with the last
// ike.pq value, once for each -prestart value: b's key at its forward
// name (b.example., which the stub binds; b proves @b.example) and at its
// reverse name (b.lab. has none). In each run, alternating,
// (1) an application on a resolves b's name straight from the resolver
// and sends its first echo at once (no prestart: the echo is trapped and
// starts OE), (2) it resolves the name through a's DNS stub (dns.prestart
// on) and sends its first echo at once, (2') the same without the echo:
// the time from the stub's answer to the SA installed, and (3) an echo
// over the tunnel (2') brought up. It prints p50 and p90 of each, the
// paired difference (2)−(3) against the 1 ms target, and the ratios.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

const (
	lan      = "198.18.0.0/16\n2001:db8::/32\n"
	clearDNS = "198.18.0.53\n2001:db8:1::53\n"
	oeCfg    = "oe:\n  null_auth: \"off\"\n"
)

var (
	responder = lab.HostConfig{Policies: map[string]string{"clear-or-private": lan, "clear": clearDNS}, Extra: oeCfg}
	initiator = lab.HostConfig{Policies: map[string]string{"private-or-clear": lan, "clear": clearDNS}, Extra: oeCfg}
)

func main() {
	bin := flag.String("bin", "bin", "directory holding oemeshd and oemesh")
	runs := flag.Int("runs", 20, "runs per measurement")
	pq := flag.String("pq", "off,prefer", "oemeshd ike.pq values to measure the cold series with, side by side, comma-separated (the first is the base of the ratio); empty: the daemon's default alone")
	base := flag.Bool("base", true, "measure the cold, warm and fallback series (false: the prestart case alone)")
	old := flag.String("old", "", "a previous oemeshd binary: the prestart case also runs with it on both hosts (2o), for a before-and-after in one run")
	hold := flag.Duration("hold", 50*time.Millisecond, "the prestart case's dns.stub.hold, for its held variant (2c)")
	prestart := flag.String("prestart", "forward,reverse", "measure the DNS-triggered prestart case (issue 16) with b's key at each of these names, comma-separated: forward (b.example., bound by the stub), reverse (b.lab., no key at the name); empty: not at all")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "oelatency: must run as root (network namespaces)")
		os.Exit(2)
	}
	if *runs < 1 {
		fmt.Fprintln(os.Stderr, "oelatency: -runs must be at least 1")
		os.Exit(2)
	}
	oemeshd, err := filepath.Abs(filepath.Join(*bin, "oemeshd"))
	if err == nil {
		_, err = os.Stat(oemeshd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "oelatency: oemeshd: %v (build it with `make build`, or give -bin)\n", err)
		os.Exit(2)
	}
	// The mesh's configuration logs at debug level; this asks for info,
	// as in production. It has no effect since internal/lab stopped
	// passing OEMESH_* variables to the daemons (0609d5f): they log at
	// debug, in every series alike (bench/oe-perf.md, "Issue 16").
	os.Setenv("OEMESH_LOG_LEVEL", "info")
	work, err := os.MkdirTemp("", "oelatency-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "oelatency:", err)
		os.Exit(1)
	}
	defer os.RemoveAll(work)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := lab.NewMesh(lab.MeshOptions{Prefix: fmt.Sprintf("oelat%d", os.Getpid()%100000), WorkDir: work, Oemeshd: oemeshd})
	if err != nil {
		fmt.Fprintln(os.Stderr, "oelatency:", err)
		os.Exit(1)
	}
	modes, err := pqModes(ctx, oemeshd, *pq)
	if err != nil {
		m.Close()
		fmt.Fprintln(os.Stderr, "oelatency:", err)
		os.Exit(1)
	}
	if *base {
		_, err = measure(ctx, m, *runs, modes)
	}
	for _, keys := range strings.Split(*prestart, ",") {
		if keys = strings.TrimSpace(keys); keys != "" && err == nil {
			_, err = measurePrestart(ctx, m, *runs, modes[len(modes)-1], keys, *hold, *old)
		}
	}
	m.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "oelatency:", err)
		os.Exit(1)
	}
}

type series struct {
	name      string
	took, rtt []time.Duration
	kes       map[string]int // key exchanges of the IKE SA after each sample, as oemesh traffic reports them
}

// pqModes returns the ike.pq values to run the cold series with: those of
// list, if oemeshd has the setting (its --help lists --ike-pq), or else
// the daemon's default alone, written "". The setting comes with issue
// 15's post-quantum default; before it, oemeshd's OE proposals are the
// classical ones and cannot be configured.
func pqModes(ctx context.Context, oemeshd, list string) ([]string, error) {
	var modes []string
	for _, v := range strings.Split(list, ",") {
		if v = strings.TrimSpace(v); v != "" {
			modes = append(modes, v)
		}
	}
	if len(modes) == 0 {
		return []string{""}, nil
	}
	help, err := exec.CommandContext(ctx, oemeshd, "--help").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --help: %v: %s", oemeshd, err, help)
	}
	if !strings.Contains(string(help), "--ike-pq") {
		fmt.Fprintf(os.Stderr, "oelatency: %s has no ike.pq setting: measuring its default proposals only, not -pq %s\n", oemeshd, list)
		return []string{""}, nil
	}
	return modes, nil
}

// withPQ is hc with oemeshd's ike.pq set to mode ("": the default).
func withPQ(hc lab.HostConfig, mode string) lab.HostConfig {
	if mode != "" {
		hc.Extra += "ike:\n  pq: " + mode + "\n"
	}
	return hc
}

// pqName names an ike.pq value in the output.
func pqName(mode string) string {
	if mode == "" {
		return "default"
	}
	return "ike.pq " + mode
}

// measure runs the series and prints their figures: the cold series once
// for each ike.pq value of modes ("": the default), then the warm and
// fallback series with the last.
func measure(ctx context.Context, m *lab.Mesh, runs int, modes []string) ([]*series, error) {
	b, d := m.Hosts["b"].Addr4, m.Hosts["d"].Addr4
	last := modes[len(modes)-1]
	var colds []*series
	for _, mode := range modes {
		colds = append(colds, &series{name: "first packet → SA installed, cold DNS cache (a→b), " + pqName(mode), kes: map[string]int{}})
	}
	warm := &series{name: "first packet → SA installed, warm DNS cache (a→b)"}
	fallback := &series{name: "first packet → clear fallback, no key in DNS (a→d)"}

	restart := func(mode string, names ...string) error {
		for _, n := range names {
			m.StopDaemon(n, syscall.SIGTERM)
			hc := initiator
			if n == "b" {
				hc = responder
			}
			if err := m.StartDaemon(ctx, n, withPQ(hc, mode)); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range runs {
		// Cold: both daemons start with empty caches and no SAs, once
		// per ike.pq value, alternating so that a change in the machine's
		// load falls on all of them.
		for j, mode := range modes {
			if err := restart(mode, "b", "a"); err != nil {
				return nil, err
			}
			if err := sample(ctx, m, b, "OE up", colds[j]); err != nil {
				return nil, fmt.Errorf("cold run %d, %s: %w", i+1, pqName(mode), err)
			}
			ke, err := keyExchanges(ctx, m, b)
			if err != nil {
				return nil, fmt.Errorf("cold run %d, %s: %w", i+1, pqName(mode), err)
			}
			colds[j].kes[ke]++
		}
		// Warm: the SA goes, the DNS answers stay cached.
		if err := down(ctx, m, b); err != nil {
			return nil, fmt.Errorf("warm run %d: %w", i+1, err)
		}
		if err := sample(ctx, m, b, "OE up", warm); err != nil {
			return nil, fmt.Errorf("warm run %d: %w", i+1, err)
		}
		// Fallback: a restarted, so its negative answer is not cached.
		if err := restart(last, "a"); err != nil {
			return nil, err
		}
		if err := sample(ctx, m, d, "OE failed", fallback); err != nil {
			return nil, fmt.Errorf("fallback run %d: %w", i+1, err)
		}
		if (i+1)%5 == 0 || i+1 == runs {
			fmt.Fprintf(os.Stderr, "oelatency: %d/%d runs\n", i+1, runs)
		}
	}
	all := append(append([]*series(nil), colds...), warm, fallback)
	fmt.Printf("%-72s %10s %10s %10s   %s\n", "measurement (median of "+strconv.Itoa(runs)+")", "median", "min", "max", "first echo RTT median (min–max)")
	for _, s := range all {
		t, r := stats(s.took), stats(s.rtt)
		fmt.Printf("%-72s %10s %10s %10s   %s (%s–%s)\n", s.name, ms(t[0]), ms(t[1]), ms(t[2]), ms(r[0]), ms(r[1]), ms(r[2]))
	}
	fmt.Printf("(warm and fallback with %s)\n\n", pqName(last))
	fmt.Printf("%-20s %10s %8s   %s\n", "cold, by ike.pq", "median", "ratio", "key exchanges of the IKE SAs (runs)")
	base := stats(colds[0].took)[0]
	for j, s := range colds {
		med := stats(s.took)[0]
		fmt.Printf("%-20s %10s %8s   %s\n", pqName(modes[j]), ms(med), fmt.Sprintf("%.2f", float64(med)/float64(base)), kesText(s.kes))
	}
	return all, nil
}

// kesText writes the key exchanges seen and how often, e.g.
// "x25519+mlkem768 ×20".
func kesText(kes map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(kes)) {
		name := k
		if name == "" {
			name = "not reported"
		}
		parts = append(parts, fmt.Sprintf("%s ×%d", name, kes[k]))
	}
	return strings.Join(parts, ", ")
}

// keyExchanges returns the key exchanges of a's IKE SA with dst, as a's
// `oemesh traffic --json` reports them ("" if it does not know them).
func keyExchanges(ctx context.Context, m *lab.Mesh, dst netip.Addr) (string, error) {
	out, err := m.CLI(ctx, "a", "--json", "traffic")
	if err != nil {
		return "", fmt.Errorf("oemesh traffic: %v: %s", err, out)
	}
	var ts []control.TunnelStatus
	if err := json.Unmarshal([]byte(out), &ts); err != nil {
		return "", fmt.Errorf("oemesh traffic --json: %v: %s", err, out)
	}
	for _, t := range ts {
		if t.Peer == dst.String() {
			return t.KeyExchanges, nil
		}
	}
	return "", fmt.Errorf("oemesh traffic lists no SA with %s: %s", dst, out)
}

var (
	tookRE = regexp.MustCompile(` took=([0-9.]+[a-zµ]+)`)
	rttRE  = regexp.MustCompile(`icmp_seq=1 .*time=([0-9.]+) ms`)
)

// sample pings dst once from a and reads the daemon's line for the
// attempt (want is "OE up" or "OE failed") from the log written since.
func sample(ctx context.Context, m *lab.Mesh, dst netip.Addr, want string, s *series) error {
	mark := len(m.Log("a"))
	p := m.Ping(ctx, "a", dst, 1, 100*time.Millisecond)
	if !p.First {
		return fmt.Errorf("ping a→%s unanswered:\n%s", dst, p.Output)
	}
	rtt := rttRE.FindStringSubmatch(p.Output)
	if rtt == nil {
		return fmt.Errorf("no time in ping output:\n%s", p.Output)
	}
	v, err := strconv.ParseFloat(rtt[1], 64)
	if err != nil {
		return err
	}
	took, err := tookSince(m, mark, dst, want)
	if err != nil {
		return err
	}
	s.took = append(s.took, took)
	s.rtt = append(s.rtt, time.Duration(v*float64(time.Millisecond)))
	return nil
}

// tookSince waits for a's line for the attempt toward dst (want is "OE
// up" or "OE failed") in the log written after mark, and returns its
// took=.
func tookSince(m *lab.Mesh, mark int, dst netip.Addr, want string) (time.Duration, error) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		log := m.Log("a")
		if len(log) < mark {
			mark = 0 // the daemon restarted and its log was rewritten
		}
		for _, line := range strings.Split(log[mark:], "\n") {
			if !strings.Contains(line, `msg="`+want) || !strings.Contains(line, "target="+dst.String()+" ") {
				continue
			}
			t := tookRE.FindStringSubmatch(line)
			if t == nil {
				return 0, fmt.Errorf("no took= in %q", line)
			}
			took, err := time.ParseDuration(t[1])
			if err != nil {
				return 0, fmt.Errorf("took= in %q: %w", line, err)
			}
			return took, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no %q line for %s in a's log", want, dst)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// down deletes a's SAs with dst and waits until neither side lists one.
func down(ctx context.Context, m *lab.Mesh, dst netip.Addr) error {
	if out, err := m.CLI(ctx, "a", "down", dst.String()); err != nil {
		return fmt.Errorf("oemesh down %s: %v: %s", dst, err, out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		outA, _ := m.CLI(ctx, "a", "traffic")
		outB, _ := m.CLI(ctx, "b", "traffic")
		if strings.Contains(outA, "no SAs") && strings.Contains(outB, "no SAs") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("SAs still listed after oemesh down:\na:\n%s\nb:\n%s", outA, outB)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stats returns the median, minimum and maximum.
func stats(d []time.Duration) [3]time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return [3]time.Duration{med, s[0], s[n-1]}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
