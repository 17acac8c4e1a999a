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
	err = b.run(o)
	b.teardown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "usthroughput:", err)
		os.Exit(1)
	}
}

func (b *bench) run(o options) error {
	fmt.Printf("Machine: %s\n", machine())
	fmt.Printf("Each TCP and UDP run %v, %d runs per test; CPU per GB at %.0f Mbit/s for %v; %d lone round trips.\n\n",
		o.dur, o.runs, o.rate, o.rateDur, o.pings)
	var rs []*result
	for _, p := range paths(o.wg, o.chachaRaw) {
		fmt.Fprintf(os.Stderr, "usthroughput: %s\n", p.name)
		r, err := b.measure(p, o)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		rs = append(rs, r)
	}
	fmt.Printf("Load average at the end: %s\n\n", loadavg())
	printResults(rs, o)
	return nil
}

// measure brings p up, runs every test over it and takes it down.
func (b *bench) measure(p path, o options) (*result, error) {
	if err := p.up(b); err != nil {
		return nil, fmt.Errorf("bring up: %w", err)
	}
	if p.down != nil {
		defer func() { _ = p.down(b) }()
	}
	r := &result{name: p.name}
	var sent uint64
	for _, streams := range []int{1, 4} {
		for range o.runs {
			t, err := b.tcpStreams(p.dst, streams, o.dur)
			if err != nil {
				return nil, fmt.Errorf("TCP, %d streams: %w", streams, err)
			}
			sent += t.bytes
			if streams == 1 {
				r.tcp1 = append(r.tcp1, t.mbps)
			} else {
				r.tcp4 = append(r.tcp4, t.mbps)
			}
		}
	}
	if p.check != nil {
		if err := p.check(b, sent); err != nil {
			return nil, err
		}
	}
	for range o.runs {
		u, err := b.udpSend(p.dst, o.dur, 0)
		if err != nil {
			return nil, fmt.Errorf("UDP flood: %w", err)
		}
		r.udp = append(r.udp, u)
	}
	u, err := b.udpSend(p.dst, o.rateDur, o.rate)
	if err != nil {
		return nil, fmt.Errorf("paced UDP: %w", err)
	}
	r.paced = u
	if r.rtts, err = b.rtt(p.dst, o.pings); err != nil {
		return nil, fmt.Errorf("round trips: %w", err)
	}
	return r, nil
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
