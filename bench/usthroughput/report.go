package main

import (
	"fmt"
	"slices"
	"time"
)

// result is every figure of one path.
type result struct {
	name       string
	tcp1, tcp4 []float64 // Mbit/s per run
	tcp1CPU    []float64 // process CPU seconds per GB of each single-stream run
	udp        []udpResult
	paced      udpResult
	rtts       []time.Duration // sorted
}

// bestMedian of rates.
func bestMedian(r []float64) (best, median float64) {
	s := slices.Clone(r)
	slices.Sort(s)
	if len(s) == 0 {
		return 0, 0
	}
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + m) / 2
	}
	return s[len(s)-1], m
}

// medianUDP is the run with the median received rate.
func medianUDP(us []udpResult) udpResult {
	s := slices.Clone(us)
	slices.SortFunc(s, func(a, b udpResult) int {
		switch {
		case a.pps() < b.pps():
			return -1
		case a.pps() > b.pps():
			return 1
		}
		return 0
	})
	return s[len(s)/2]
}

func ratio(x, ref float64) string {
	if ref <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x/ref)
}

// printResults writes the tables as Markdown, ratios taken on the
// medians.
func printResults(rs []*result, o options) {
	var veth, wg *result
	for _, r := range rs {
		switch r.name {
		case "veth, no encryption":
			veth = r
		case "wireguard-go":
			wg = r
		}
	}
	ref := func(r *result, f func(*result) float64) float64 {
		if r == nil {
			return 0
		}
		return f(r)
	}
	med1 := func(r *result) float64 { _, m := bestMedian(r.tcp1); return m }
	med4 := func(r *result) float64 { _, m := bestMedian(r.tcp4); return m }
	pps := func(r *result) float64 { return medianUDP(r.udp).pps() }

	fmt.Println("Throughput (Mbit/s best / median of the runs; ratios on the medians):")
	fmt.Println()
	fmt.Println("| path | TCP 1 stream | ×wg-go | ×veth | TCP 4 streams | ×wg-go | ×veth | UDP 1400 B kpps (loss) | ×wg-go | ×veth |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rs {
		b1, m1 := bestMedian(r.tcp1)
		b4, m4 := bestMedian(r.tcp4)
		u := medianUDP(r.udp)
		fmt.Printf("| %s | %.0f / %.0f | %s | %s | %.0f / %.0f | %s | %s | %.1f (%.1f%%) | %s | %s |\n", r.name,
			b1, m1, ratio(m1, ref(wg, med1)), ratio(m1, ref(veth, med1)),
			b4, m4, ratio(m4, ref(wg, med4)), ratio(m4, ref(veth, med4)),
			u.pps()/1e3, 100*u.loss(), ratio(u.pps(), ref(wg, pps)), ratio(u.pps(), ref(veth, pps)))
	}
	fmt.Println()
	fmt.Printf("CPU per GB at %.0f Mbit/s offered (UDP, 1400-byte IP packets, %v): process = user+system CPU of this\n", o.rate, o.rateDur)
	fmt.Println("process (both tunnel ends, sender and receiver, with their system calls); softirq = the machine's")
	fmt.Println("softirq time (all CPUs: kernel receive work not charged to a process, other jobs' included);")
	fmt.Println("tunnel = total less the bare veth's total, what the tunnel adds:")
	fmt.Println()
	fmt.Println("| path | received Mbit/s (loss) | process s/GB | softirq s/GB | total s/GB | tunnel s/GB |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	perGB := func(r *result) (proc, soft float64) {
		gb := r.paced.gbMoved()
		if gb <= 0 {
			return 0, 0
		}
		return r.paced.cpu.proc.Seconds() / gb, r.paced.cpu.softirq.Seconds() / gb
	}
	var vethTotal float64 // the generator's own cost: sockets and veth
	if veth != nil {
		p, s := perGB(veth)
		vethTotal = p + s
	}
	for _, r := range rs {
		p, s := perGB(r)
		mbps := r.paced.gbMoved() * 8e3 / r.paced.dur.Seconds()
		tunnel := "–"
		if veth != nil {
			tunnel = fmt.Sprintf("%.2f", p+s-vethTotal)
		}
		fmt.Printf("| %s | %.0f (%.1f%%) | %.2f | %.2f | %.2f | %s |\n", r.name, mbps, 100*r.paced.loss(), p, s, p+s, tunnel)
	}
	fmt.Println()
	fmt.Printf("Round trip of a lone 64-byte UDP packet (%d, one at a time, 2 ms apart), µs:\n\n", o.pings)
	fmt.Println("| path | p50 | p99 | p50 − veth p50 |")
	fmt.Println("| --- | --- | --- | --- |")
	var v50 time.Duration
	if veth != nil {
		v50 = quantile(veth.rtts, 0.5)
	}
	us := func(d time.Duration) float64 { return float64(d) / 1e3 }
	for _, r := range rs {
		p50, p99 := quantile(r.rtts, 0.5), quantile(r.rtts, 0.99)
		fmt.Printf("| %s | %.0f | %.0f | %+.0f |\n", r.name, us(p50), us(p99), us(p50-v50))
	}
}
