package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/oemesh/oemesh/internal/control"
)

// holdConfig is the hold phase's: how long every peer stays up, how
// long the CPU at rest is read for, and the SA lifetimes on both sides
// (zero: the defaults).
type holdConfig struct {
	hold, rest time.Duration
	child, ike time.Duration
}

// lifetimes is the responder's oe section lines for the lifetimes set.
func (h holdConfig) lifetimes() string {
	var s string
	if h.ike > 0 {
		s += fmt.Sprintf("  ike_lifetime: %s\n", h.ike)
	}
	if h.child > 0 {
		s += fmt.Sprintf("  child_lifetime: %s\n", h.child)
	}
	return s
}

// holdReport is what the hold phase saw.
type holdReport struct {
	peers       int
	up, end     mem // the responder at the start and the end of the hold
	base        mem // the responder before any peer
	warm        mem // the responder with the warm-up peers only
	warmPeers   int
	restCPU     float64       // responder CPU seconds per second at rest
	rest        time.Duration // read over this long
	held        time.Duration
	holdCPU     float64 // responder CPU seconds over the hold
	childRekeys uint64  // CHILD SA rekeys the initiators completed during the hold
	ikeRekeys   uint64  // IKE SA rekeys likewise
	perSecond   []uint64
	ikeDown     uint64 // initiator IKE SAs that went down (not replaced)
	tunnels     uint64 // the responder's tunnels at the end
}

// peak is the most rekeys (CHILD and IKE) completed in one second, and
// busy the mean over the seconds that saw any.
func (r *holdReport) peak() (peak uint64, busy float64) {
	var sum, n uint64
	for _, k := range r.perSecond {
		peak = max(peak, k)
		if k > 0 {
			sum, n = sum+k, n+1
		}
	}
	if n > 0 {
		busy = float64(sum) / float64(n)
	}
	return peak, busy
}

// heapPerPeer is the live heap per peer at m, in KiB, beyond the warm-up
// peers (whose reading paid the one-off costs).
func (r *holdReport) heapPerPeer(m mem) float64 {
	return float64(m.live-r.warm.live) / 1024 / float64(r.peers-r.warmPeers)
}

func (r *holdReport) print(w io.Writer) {
	peak, busy := r.peak()
	fmt.Fprintf(w, "held %d peers for %v:\n", r.peers, r.held.Round(time.Second))
	fmt.Fprintf(w, "  Go live heap after a collection %s at the start, %s at the end: %.2f, %.2f KiB per peer beyond the %d warm-up peers\n",
		kib(r.up.live), kib(r.end.live), r.heapPerPeer(r.up), r.heapPerPeer(r.end), r.warmPeers)
	fmt.Fprintf(w, "  VmRSS %s at the start, %s at the end (%.2f KiB per peer at the end)\n",
		kib(r.up.rss), kib(r.end.rss), float64(r.end.rss-r.warm.rss)/1024/float64(r.peers-r.warmPeers))
	fmt.Fprintf(w, "  goroutines %d without peers, %d at the start, %d at the end\n", r.base.goroutines, r.up.goroutines, r.end.goroutines)
	fmt.Fprintf(w, "  CPU at rest %.2f%% of a core (over %v, before the first rekey)\n", 100*r.restCPU, r.rest)
	fmt.Fprintf(w, "  rekeys completed by the initiators: %d CHILD, %d IKE; peak %d/s, %.0f/s on average over the seconds with any\n",
		r.childRekeys, r.ikeRekeys, peak, busy)
	if n := r.childRekeys + r.ikeRekeys; n > 0 {
		extra := r.holdCPU - r.restCPU*r.held.Seconds()
		fmt.Fprintf(w, "  responder CPU over the hold %.1f s (%.2f%% of a core), %.2f ms per rekey above rest\n",
			r.holdCPU, 100*r.holdCPU/r.held.Seconds(), 1000*extra/float64(n))
	}
	fmt.Fprintf(w, "  initiator IKE SAs down: %d; responder tunnels at the end: %d\n", r.ikeDown, r.tunnels)
}

// holdPhase keeps n established peers up for b.hold.hold: the CPU at
// rest first, then the rekeys the initiators complete each second and
// the responder's CPU, then the memory and tunnels at the end. It fails
// if the responder does not list n tunnels at the end, or if an
// initiator IKE SA went down.
func (b *bench) holdPhase(ctx context.Context, n int, base, warm mem, warmPeers int) (*holdReport, error) {
	client := control.NewClient(b.socket())
	var st control.Status
	if err := client.Do(ctx, "GET", "/v1/status", nil, &st); err != nil {
		return nil, err
	}
	pid := st.PID
	r := &holdReport{peers: n, base: base, warm: warm, warmPeers: warmPeers, rest: b.hold.rest}
	var err error
	if r.up, err = b.memory(ctx, client, fmt.Sprintf("heap-%d.pb.gz", b.reading)); err != nil {
		return r, err
	}
	ikeDown := b.ikeDown.Load()

	// At rest: the CPU of n established peers with nothing to do. It
	// must end before the first rekey; the caller's lifetimes see to it.
	fmt.Fprintf(os.Stderr, "oemem: %d peers up; CPU at rest over %v\n", n, b.hold.rest)
	c0, err := procCPU(pid)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	if err := sleepCtx(ctx, b.hold.rest); err != nil {
		return r, err
	}
	c1, err := procCPU(pid)
	if err != nil {
		return r, err
	}
	r.restCPU = (c1 - c0) / time.Since(t0).Seconds()

	fmt.Fprintf(os.Stderr, "oemem: holding %d peers for %v\n", n, b.hold.hold)
	s0 := b.eng.Stats()
	last := s0.ChildInstalled + s0.IKEEstablished
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(start) < b.hold.hold {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-tick.C:
		}
		s := b.eng.Stats()
		now := s.ChildInstalled + s.IKEEstablished
		r.perSecond = append(r.perSecond, now-last)
		last = now
	}
	r.held = time.Since(start)
	c2, err := procCPU(pid)
	if err != nil {
		return r, err
	}
	r.holdCPU = c2 - c1
	s1 := b.eng.Stats()
	r.childRekeys, r.ikeRekeys = s1.ChildInstalled-s0.ChildInstalled, s1.IKEEstablished-s0.IKEEstablished
	r.ikeDown = b.ikeDown.Load() - ikeDown

	if r.end, err = b.settle(ctx, n); err != nil {
		return r, fmt.Errorf("after the hold: %w", err)
	}
	r.tunnels = uint64(n)
	if r.ikeDown > 0 {
		return r, fmt.Errorf("%d initiator IKE SAs went down during the hold", r.ikeDown)
	}
	return r, nil
}

// procCPU reads the CPU time (user and system) of process pid, in
// seconds, from /proc/PID/stat.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("responder CPU: %w", err)
	}
	// The command name may hold spaces: the fields start after its ')'.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("responder CPU: /proc/%d/stat: %q has too few fields", pid, b)
	}
	// Fields 14 and 15 of stat(5), utime and stime, in clock ticks; the
	// kernel's USER_HZ is 100 on every architecture Go runs Linux on.
	var ticks uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("responder CPU: /proc/%d/stat: %q: %w", pid, s, err)
		}
		ticks += v
	}
	return float64(ticks) / 100, nil
}
