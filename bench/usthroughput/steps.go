package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/userspace"
)

// -steps: one ESP-in-UDP AES-GCM-128 path per cumulative step of issue 17,
// from none of the techniques to all of them (today's data plane), each
// on a userspace device of its own in each namespace, beside the bare
// veth and wireguard-go, with the runs interleaved as in the main run.

// step is one row: the techniques on up to it, as a device Config.
type step struct {
	name string
	cfg  userspace.Config
}

// steps are cumulative: each turns one more technique on. The last is the
// zero Techniques with default Workers and offloads: what a daemon runs.
func steps() []step {
	c := userspace.Config{NoOffloads: true, Workers: 1, Techniques: userspace.Techniques{
		NoUDPGSO: true, NoUDPGRO: true, Batch: 1, NoInlineCrypto: true, SmallSocketBuffers: true,
		SmallGROHeads: true}}
	var ss []step
	add := func(name string, f func(*userspace.Config)) {
		f(&c)
		ss = append(ss, step{name: name, cfg: c})
	}
	add("none: 1 packet per system call, crypto on the reader", func(*userspace.Config) {})
	add("+ batches (recvmmsg/sendmmsg, 64)", func(c *userspace.Config) { c.Techniques.Batch = 0 })
	add("+ TUN offloads (TSO in, GRO out)", func(c *userspace.Config) { c.NoOffloads = false })
	add("+ UDP GSO", func(c *userspace.Config) { c.Techniques.NoUDPGSO = false })
	add("+ UDP GRO", func(c *userspace.Config) { c.Techniques.NoUDPGRO = false })
	add("+ parallel crypto (a worker per core)", func(c *userspace.Config) { c.Workers = 0 })
	add("+ small batches inline", func(c *userspace.Config) { c.Techniques.NoInlineCrypto = false })
	add("+ socket queues past rmem_max", func(c *userspace.Config) { c.Techniques.SmallSocketBuffers = false })
	add("+ 64 KiB GRO heads on TUN writes (= today)", func(c *userspace.Config) { c.Techniques.SmallGROHeads = false })
	return ss
}

// stepPathBase is the ESP path number (espAddrs) of the first step; the
// default run's paths use 1…espPaths.
const stepPathBase = espPaths + 1

// stepDevices starts step k's device in each namespace, with its own TUN
// device, tables, rule priorities and ESP-in-UDP port beside the default
// devices, and its traps.
func (b *bench) stepDevices(k int, s step) error {
	cfg := s.cfg
	cfg.TUNName = fmt.Sprintf("usst%d", k)
	cfg.Table = 4400 + 2*k // and GuardTable the next
	cfg.RulePriority = 4400 + 2*k
	cfg.EncapPort = uint16(4600 + k)
	a, bb := espAddrs(uint32(stepPathBase + k))
	if err := ip("-n", b.a, "addr", "add", a.String()+"/24", "dev", "va"); err != nil {
		return err
	}
	if err := ip("-n", b.b, "addr", "add", bb.String()+"/24", "dev", "vb"); err != nil {
		return err
	}
	ctx := context.Background()
	var da, db *userspace.Device
	if err := inNS(b.ha, func() (err error) { da, err = userspace.New(ctx, cfg); return }); err != nil {
		return err
	}
	b.steps = append(b.steps, da)
	if err := inNS(b.hb, func() (err error) { db, err = userspace.New(ctx, cfg); return }); err != nil {
		return err
	}
	b.steps = append(b.steps, db)
	if err := da.SetTrap(ctx, kernel.Trap{Prefix: netip.PrefixFrom(bb, 32), Group: kernel.GroupPrivate}); err != nil {
		return err
	}
	if err := db.SetTrap(ctx, kernel.Trap{Prefix: netip.PrefixFrom(a, 32), Group: kernel.GroupPrivate}); err != nil {
		return err
	}
	pa, pb := saPair(kernel.AESGCM16, uint32(stepPathBase+k))
	pa.Encap = &kernel.Encap{SrcPort: cfg.EncapPort, DstPort: cfg.EncapPort}
	pb.Encap = pa.Encap
	if err := db.InstallSA(ctx, pb); err != nil {
		return err
	}
	if err := da.InstallSA(ctx, pa); err != nil {
		return err
	}
	sa, sb := da.Stats(), db.Stats()
	fmt.Fprintf(os.Stderr, "usthroughput: step %d up: TUN batch %d/%d, offloads %v/%v, UDP GSO %v/%v, GRO %v/%v\n",
		k, sa.TUNBatch, sb.TUNBatch, sa.Offloads, sb.Offloads, sa.UDPGSO, sb.UDPGSO, sa.UDPGRO, sb.UDPGRO)
	return nil
}

// runSteps measures TCP with one stream (interleaved runs) and the CPU
// per GB at the paced rate for the veth, wireguard-go and every step.
func (b *bench) runSteps(o options) error {
	fmt.Printf("Machine: %s\n", machine())
	fmt.Printf("-steps: ESP-in-UDP AES-GCM-128, transport mode, one device pair per step; each TCP run %v, %d runs,\n", o.dur, o.runs)
	fmt.Printf("interleaved; CPU per GB at %.0f Mbit/s for %v.\n\n", o.rate, o.rateDur)
	var ps []path
	base := paths(o.wg, false)
	for _, p := range base {
		if (p.name == "veth, no encryption" || p.name == "wireguard-go") && o.selected(p.name) {
			ps = append(ps, p)
		}
	}
	for k, s := range steps() {
		if !o.selected(s.name) {
			continue
		}
		src, dst := espAddrs(uint32(stepPathBase + k))
		ps = append(ps, path{name: s.name, src: src, dst: dst, up: func(b *bench) error { return b.stepDevices(k, s) }})
	}
	rs := make([]*result, len(ps))
	for i, p := range ps {
		if err := p.up(b); err != nil {
			return fmt.Errorf("%s: bring up: %w", p.name, err)
		}
		rs[i] = &result{name: p.name}
	}
	stop, err := startProfile(o.profile)
	if err != nil {
		return err
	}
	defer stop()
	for run := range o.runs {
		for i, p := range ps {
			fmt.Fprintf(os.Stderr, "usthroughput: TCP 1 stream, run %d: %s\n", run+1, p.name)
			t, err := b.tcpStreams(p.src, p.dst, 1, o.dur)
			if err != nil {
				return fmt.Errorf("%s: TCP: %w", p.name, err)
			}
			rs[i].tcp1 = append(rs[i].tcp1, t.mbps)
			proc, _ := t.perGB()
			rs[i].tcp1CPU = append(rs[i].tcp1CPU, proc)
		}
	}
	for i, p := range ps {
		fmt.Fprintf(os.Stderr, "usthroughput: paced UDP: %s\n", p.name)
		u, err := b.udpSend(p.src, p.dst, o.rateDur, o.rate)
		if err != nil {
			return fmt.Errorf("%s: paced UDP: %w", p.name, err)
		}
		rs[i].paced = u
	}
	fmt.Printf("Load average at the end: %s\n\n", loadavg())
	printSteps(rs, o)
	return nil
}

// printSteps writes one row per path: TCP single stream (best / median),
// its ratio to wireguard-go on the medians, and the tunnel's CPU per GB
// (the process and softirq time less the bare veth's).
func printSteps(rs []*result, o options) {
	var veth, wg *result
	for _, r := range rs {
		switch r.name {
		case "veth, no encryption":
			veth = r
		case "wireguard-go":
			wg = r
		}
	}
	perGB := func(r *result) float64 {
		gb := r.paced.gbMoved()
		if gb <= 0 {
			return 0
		}
		return (r.paced.cpu.proc.Seconds() + r.paced.cpu.softirq.Seconds()) / gb
	}
	var wgMed, vethGB float64
	if wg != nil {
		_, wgMed = bestMedian(wg.tcp1)
	}
	if veth != nil {
		vethGB = perGB(veth)
	}
	fmt.Printf("| step | TCP 1 stream Mbit/s (best / median) | ×wireguard-go | process CPU s/GB in TCP (median) | tunnel CPU s/GB at %.0f Mbit/s (loss) |\n", o.rate)
	fmt.Println("| --- | --- | --- | --- | --- |")
	for _, r := range rs {
		best, med := bestMedian(r.tcp1)
		tunnel := "–"
		if veth != nil && r != veth {
			tunnel = fmt.Sprintf("%.2f (%.1f%%)", perGB(r)-vethGB, 100*r.paced.loss())
		}
		_, cpu := bestMedian(r.tcp1CPU)
		fmt.Printf("| %s | %.0f / %.0f | %s | %.2f | %s |\n", r.name, best, med, ratio(med, wgMed), cpu, tunnel)
	}
}
