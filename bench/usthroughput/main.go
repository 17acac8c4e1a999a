// Command usthroughput measures the userspace tunnels side by side in one
// run, on one veth pair between two network namespaces, in this order:
//
//   - the bare veth (no encryption): the ceiling;
//   - wireguard-go (golang.zx2c4.com/wireguard/device, in process, the
//     module version in go.mod), the userspace tunnel this data plane is
//     modelled on and held to;
//   - oemesh's userspace ESP data plane (kernel/userspace), transport
//     mode, ESN: raw ESP with AES-GCM-128, ESP-in-UDP with AES-GCM-128,
//     ESP-in-UDP with ChaCha20-Poly1305 (-chacha-raw adds raw ESP).
//
// For each it measures TCP with one stream and with four, UDP 1,400-byte
// packets per second (received, with the loss), the CPU time per GB at
// one offered load that every path reaches, and the round-trip time of a
// lone packet; throughput is given as a ratio to wireguard-go and to the
// bare veth. See bench/README.md for what is counted.
//
// It must run as root; it creates namespaces "usbench{a,b}-<pid>" and
// removes them on exit. Addresses are 192.0.2.0/24 (ESP), 198.18.0.0/24
// (veth) and 198.18.1.0/24 (WireGuard), inside the namespaces only.
// Run it through bench/userspace-throughput.sh.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"golang.zx2c4.com/wireguard/device"
)

var errNoBufs = syscall.ENOBUFS

var wgLogLevel = device.LogLevelSilent

// options are the command line.
type options struct {
	dur       time.Duration // per TCP or UDP run
	runs      int
	rate      float64 // Mbit/s of the CPU-per-GB flow
	rateDur   time.Duration
	pings     int
	wg        bool
	chachaRaw bool
	only      string // run only the paths whose name contains one of its comma-separated words
	profile   string // CPU profile of the whole run
	steps     bool   // one ESP-in-UDP path per technique of issue 17 (steps.go)
	tcp1      bool   // only the single-stream TCP runs (quick A/B while profiling)
}

func main() {
	var o options
	flag.DurationVar(&o.dur, "time", 3*time.Second, "duration of each TCP and UDP run")
	flag.IntVar(&o.runs, "runs", 3, "runs per test and path; the best and median are reported")
	flag.Float64Var(&o.rate, "rate", 300, "Mbit/s of the paced UDP flow the CPU per GB is measured at (every path must reach it)")
	flag.DurationVar(&o.rateDur, "rate-time", 3*time.Second, "duration of the paced UDP flow")
	flag.IntVar(&o.pings, "pings", 200, "lone round trips per path for the latency")
	noWG := flag.Bool("no-wireguard", false, "skip the wireguard-go path")
	flag.BoolVar(&o.chachaRaw, "chacha-raw", false, "also measure raw ESP with ChaCha20-Poly1305")
	flag.StringVar(&o.only, "only", "", "run only the paths whose name contains one of these, comma-separated; a+b: both a and b (e.g. veth,wireguard,ESP-in-UDP+AES)")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the run to this file")
	flag.BoolVar(&o.steps, "steps", false, "instead: one ESP-in-UDP AES-GCM path per cumulative technique (none, + batches, + TUN offloads, ... = today), TCP 1 stream and CPU per GB, beside the veth and wireguard-go")
	flag.BoolVar(&o.tcp1, "tcp1", false, "only the single-stream TCP runs, with their ratios (a quick A/B while profiling)")
	verbose := flag.Bool("v", false, "log wireguard-go")
	flag.Parse()
	o.wg = !*noWG
	if *verbose {
		wgLogLevel = device.LogLevelVerbose
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "usthroughput: must run as root (network namespaces, TUN)")
		os.Exit(2)
	}
	b, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "usthroughput: set-up:", err)
		if b != nil {
			b.teardown()
		}
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; b.teardown(); os.Exit(130) }()
	if o.steps {
		err = b.runSteps(o)
	} else {
		err = b.run(o)
	}
	b.teardown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "usthroughput:", err)
		os.Exit(1)
	}
}

func (b *bench) run(o options) error {
	fmt.Printf("Machine: %s\n", machine())
	fmt.Printf("Each TCP and UDP run %v, %d runs per test; CPU per GB at %.0f Mbit/s for %v; %d lone round trips.\n",
		o.dur, o.runs, o.rate, o.rateDur, o.pings)
	fmt.Printf("All paths are up at once and their runs interleave (run 1 of every path, then run 2, ...), so that\n")
	fmt.Printf("a change in the box's load falls on every path alike.\n\n")
	var ps []path
	var rs []*result
	for _, p := range paths(o.wg, o.chachaRaw) {
		if !o.selected(p.name) {
			continue
		}
		if err := p.up(b); err != nil {
			return fmt.Errorf("%s: bring up: %w", p.name, err)
		}
		if p.down != nil {
			defer func() { _ = p.down(b) }()
		}
		ps = append(ps, p)
		rs = append(rs, &result{name: p.name})
	}
	stop, err := startProfile(o.profile)
	if err != nil {
		return err
	}
	defer stop()
	sent := make([]uint64, len(ps))
	streamCounts := []int{1, 4}
	if o.tcp1 {
		streamCounts = streamCounts[:1]
	}
	for _, streams := range streamCounts {
		for run := range o.runs {
			for i, p := range ps {
				fmt.Fprintf(os.Stderr, "usthroughput: TCP %d streams, run %d: %s\n", streams, run+1, p.name)
				t, err := b.tcpStreams(p.src, p.dst, streams, o.dur)
				if err != nil {
					return fmt.Errorf("%s: TCP, %d streams: %w", p.name, streams, err)
				}
				sent[i] += t.bytes
				if streams == 1 {
					rs[i].tcp1 = append(rs[i].tcp1, t.mbps)
					proc, _ := t.perGB()
					rs[i].tcp1CPU = append(rs[i].tcp1CPU, proc)
				} else {
					rs[i].tcp4 = append(rs[i].tcp4, t.mbps)
				}
			}
		}
	}
	for i, p := range ps {
		if p.check != nil {
			if err := p.check(b, sent[i]); err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
	}
	if o.tcp1 {
		fmt.Printf("Load average at the end: %s\n\n", loadavg())
		printTCP1(rs)
		return nil
	}
	for run := range o.runs {
		for i, p := range ps {
			fmt.Fprintf(os.Stderr, "usthroughput: UDP flood, run %d: %s\n", run+1, p.name)
			u, err := b.udpSend(p.src, p.dst, o.dur, 0)
			if err != nil {
				return fmt.Errorf("%s: UDP flood: %w", p.name, err)
			}
			rs[i].udp = append(rs[i].udp, u)
		}
	}
	for i, p := range ps {
		fmt.Fprintf(os.Stderr, "usthroughput: paced UDP and round trips: %s\n", p.name)
		u, err := b.udpSend(p.src, p.dst, o.rateDur, o.rate)
		if err != nil {
			return fmt.Errorf("%s: paced UDP: %w", p.name, err)
		}
		rs[i].paced = u
		if rs[i].rtts, err = b.rtt(p.src, p.dst, o.pings); err != nil {
			return fmt.Errorf("%s: round trips: %w", p.name, err)
		}
	}
	fmt.Printf("Load average at the end: %s\n\n", loadavg())
	printResults(rs, o)
	return nil
}

// startProfile starts the CPU profile of -cpuprofile, if asked for; stop
// ends it and closes the file.
func startProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// printTCP1 writes the single-stream TCP figures of -tcp1: every run,
// best / median, the ratio of the medians to wireguard-go's and the
// veth's, and the median of the process's CPU seconds per GB received in
// those runs (both tunnel ends and both TCP ends: on a loaded box the
// steadier figure).
func printTCP1(rs []*result) {
	var wgMed, vethMed float64
	for _, r := range rs {
		switch r.name {
		case "veth, no encryption":
			_, vethMed = bestMedian(r.tcp1)
		case "wireguard-go":
			_, wgMed = bestMedian(r.tcp1)
		}
	}
	fmt.Println("| path | TCP 1 stream runs, Mbit/s | best / median | ×wg-go | ×veth | process CPU s/GB (median) |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	for _, r := range rs {
		best, med := bestMedian(r.tcp1)
		runs := make([]string, len(r.tcp1))
		for i, v := range r.tcp1 {
			runs[i] = fmt.Sprintf("%.0f", v)
		}
		_, cpu := bestMedian(r.tcp1CPU)
		fmt.Printf("| %s | %s | %.0f / %.0f | %s | %s | %.2f |\n", r.name, strings.Join(runs, " "), best, med, ratio(med, wgMed), ratio(med, vethMed), cpu)
	}
}

// selected reports whether -only lets the path named name run.
func (o options) selected(name string) bool {
	if o.only == "" {
		return true
	}
	for _, w := range strings.Split(o.only, ",") {
		if w != "" && containsAll(name, strings.Split(w, "+")) {
			return true
		}
	}
	return false
}

// containsAll reports whether name contains every one of words.
func containsAll(name string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(name, w) {
			return false
		}
	}
	return true
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	s := string(b)
	for i, n := 0, 0; i < len(s); i++ {
		if s[i] == ' ' {
			if n++; n == 3 {
				return s[:i]
			}
		}
	}
	return s
}
