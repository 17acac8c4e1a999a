package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// The NULL flood's caps on b, small so that a short run passes them many
// times over, and its shape.
const (
	nullCapTotal     = 24
	nullCapPerSource = 4
	// nullIdle is long enough that the 24 handshakes of the fill are all
	// made well within it on a loaded box (they take well under a second),
	// so that the refusals right after are certain.
	nullIdle = 5 * time.Second
	// nullFloodSources sources (IPv6 /64s) each make nullFloodPerSource
	// handshakes, all at once, in the flood proper.
	nullFloodSources   = 16
	nullFloodPerSource = 8
)

// nullFloodNet is the range the flooder's sources are in, routed to d:
// source s is the /64 2001:db8:40:s::/64. The sources are IPv6 /64s, each
// SA from another address of its /64: OE keeps one SA per flow (both ends
// and the peer's identity), so a second NULL SA from the same address
// replaces the first (oe's "peer reconnected"), and the per-source cap
// matters where one source has many addresses.
var nullFloodNet = netip.MustParsePrefix("2001:db8:40::/48")

// floodAddr is address host of source s.
func floodAddr(s, host int) netip.Addr {
	b := nullFloodNet.Addr().As16()
	b[6], b[7] = byte(s>>8), byte(s)
	b[14], b[15] = byte(host>>8), byte(host)
	return netip.AddrFrom16(b)
}

// floodSource is the /64 an address counts against.
func floodSource(a netip.Addr) netip.Prefix {
	p, _ := a.Prefix(64)
	return p
}

// Host parts of the flooder's addresses, so that no two handshakes share
// an address: the fill's 1-4, the refusals' 5, the evictions' 6, the
// flood's from 0x100.
const (
	hostRefused = 5
	hostEvict   = 6
	hostFlood   = 0x100
)

// TestNullFlood: completed NULL handshakes from many addresses of d, a
// routed range of IPv6 /64s, toward b, while a pings b through its
// key-authenticated tunnel. b caps NULL SAs at nullCapTotal and
// nullCapPerSource per /64, evicting the SA idle longest (at least
// nullIdle) or refusing the new one.
func TestNullFlood(t *testing.T) {
	m := newMesh(t)
	ctx := ctxT(t, 2*time.Minute)
	a, b, d := m.Hosts["a"], m.Hosts["b"], m.Hosts["d"]
	var addrs []netip.Addr
	for s := range nullFloodSources {
		for h := 1; h <= hostEvict; h++ {
			addrs = append(addrs, floodAddr(s, h))
		}
		for k := range nullFloodPerSource {
			addrs = append(addrs, floodAddr(s, hostFlood+k))
		}
	}
	for _, x := range addrs {
		if err := d.Node.Addr("lo", netip.PrefixFrom(x, 128).String()); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Node.Route(nullFloodNet.String(), d.Addr6.String()); err != nil {
		t.Fatal(err)
	}
	// No responder probe: b would ask the flooder's silent tunnels whether
	// they live, and delete any whose answer a loaded box delays: deletions
	// that are not the caps'.
	extra := fmt.Sprintf("dataplane: userspace\noe:\n  responder_probe: 0s\nike:\n  limits:\n    null_sas: %d\n    null_sas_per_source: %d\n    null_idle: %s\n",
		nullCapTotal, nullCapPerSource, nullIdle)
	start(t, m, ctx, "b", lab.HostConfig{Policies: responderPolicies, Extra: extra})
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiatorPolicies, Extra: "dataplane: userspace\n"})
	if r := m.Ping(ctx, "a", b.Addr4, 3, 100*time.Millisecond); r.Received < 2 {
		t.Fatalf("no tunnel a→b before the flood: %+v", r)
	}
	spisBefore := tunnelSPIs(t, m, ctx, "b", a.Addr4)
	if len(spisBefore) == 0 {
		t.Fatalf("b has no tunnel with a: %+v", tunnels(t, m, ctx, "b"))
	}
	heapBefore := liveHeap(t, m, ctx, "b")

	f, err := newNullFlooder(d.Node, b.Addr6, addrs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()

	// a pings b through its tunnel from the fill to the end of the flood.
	const pingRound, pingEvery = 20, 50 * time.Millisecond
	pingDone := make(chan struct{})
	pinged := make(chan lab.PingResult, 1)
	go func(done <-chan struct{}) {
		var sum lab.PingResult
		for {
			r := m.Ping(ctx, "a", b.Addr4, pingRound, pingEvery)
			sum.Sent, sum.Received = sum.Sent+r.Sent, sum.Received+r.Received
			select {
			case <-done:
				pinged <- sum
				return
			default:
			}
			if ctx.Err() != nil {
				pinged <- sum
				return
			}
		}
	}(pingDone)
	var stopOnce sync.Once
	var pingSum lab.PingResult
	stopPing := func() lab.PingResult {
		stopOnce.Do(func() { close(pingDone); pingSum = <-pinged })
		return pingSum
	}
	defer stopPing()

	// The fill: 4 SAs from each of 6 sources, one handshake at a time,
	// round robin, so that their order is known: ids[s][k] is source s's
	// k-th, and ids[0][0], ids[1][0], ... are the oldest.
	fillStart := time.Now()
	ids := make([][]ike.SAID, 6)
	for k := range nullCapPerSource {
		for s := range ids {
			id, ok, err := f.handshake(ctx, floodAddr(s, 1+k))
			if err != nil || !ok {
				t.Fatalf("fill, SA %d of source %d: ok %v, err %v", k, s, ok, err)
			}
			ids[s] = append(ids[s], id)
		}
	}
	filled := time.Now()
	t.Logf("FIGURE null flood: fill of %d NULL SAs in %v", nullCapTotal, filled.Sub(fillStart).Round(time.Millisecond))
	checkNull(t, m, ctx, "after the fill", nullCapTotal, 0, 0)

	// Both caps full, nothing idle yet: a fifth SA from each of the six
	// sources (the per-source cap) and a first from a seventh (the total)
	// are refused.
	for s := range 7 {
		if _, ok, err := f.handshake(ctx, floodAddr(s, hostRefused)); err != nil || ok {
			t.Fatalf("over the caps with none idle, from source %d: established %v, err %v; want AUTHENTICATION_FAILED", s, ok, err)
		}
	}
	if since := time.Since(fillStart); since >= nullIdle {
		t.Fatalf("the fill and its refusals took %v, not within null_idle %v: the box is too loaded for this check", since, nullIdle)
	}
	checkNull(t, m, ctx, "after the refusals", nullCapTotal, 0, 7)

	// Once all are idle, the total cap evicts the SA idle longest: the
	// oldest, ids[0][0], spoke last (an INFORMATIONAL), so ids[1][0].
	time.Sleep(time.Until(filled.Add(nullIdle + 500*time.Millisecond)))
	if err := f.touch(ids[0][0]); err != nil {
		t.Fatalf("INFORMATIONAL on the oldest SA: %v", err)
	}
	if _, ok, err := f.handshake(ctx, floodAddr(6, hostEvict)); err != nil || !ok {
		t.Fatalf("a new NULL SA with idle ones to evict: established %v, err %v", ok, err)
	}
	waitDeleted(t, f, ids[1][0], "the SA idle longest (the total cap)")
	if f.deleted(ids[0][0]) {
		t.Errorf("the oldest SA was evicted although it spoke last")
	}
	// The per-source cap evicts from its own source: source 5's
	// oldest, although ids[2][0] has been idle longer.
	if _, ok, err := f.handshake(ctx, floodAddr(5, hostEvict)); err != nil || !ok {
		t.Fatalf("a fifth NULL SA from source 5 with its own idle: established %v, err %v", ok, err)
	}
	waitDeleted(t, f, ids[5][0], "the oldest SA of its own source (the per-source cap)")
	if f.deleted(ids[2][0]) {
		t.Errorf("the per-source cap evicted another source's SA")
	}
	checkNull(t, m, ctx, "after the evictions", nullCapTotal, 2, 7)

	// The flood: 16 sources, 8 handshakes each, all at once.
	before := status(t, m, ctx, "b").Defences
	_, goneBefore := f.counts()
	floodStart := time.Now()
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		estab, refused   int
		floodErr         error
		maxNull          int
		sampling         = make(chan struct{})
		samplerDone      = make(chan struct{})
		samplesOverTotal int
	)
	go func() {
		defer close(samplerDone)
		for {
			select {
			case <-sampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
			n, ok := nullSAsNow(m, ctx, "b")
			if !ok {
				continue
			}
			mu.Lock()
			maxNull = max(maxNull, n)
			if n > nullCapTotal {
				samplesOverTotal++
			}
			mu.Unlock()
		}
	}()
	for s := range nullFloodSources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range nullFloodPerSource {
				_, ok, err := f.handshake(ctx, floodAddr(s, hostFlood+k))
				mu.Lock()
				switch {
				case err != nil:
					floodErr = err
				case ok:
					estab++
				default:
					refused++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	floodTime := time.Since(floodStart)
	close(sampling)
	<-samplerDone
	time.Sleep(time.Second) // the last evictions' Deletes
	after := status(t, m, ctx, "b").Defences
	maxNull = max(maxNull, after.NullSAs)
	ping := stopPing()
	if floodErr != nil {
		t.Fatalf("flood: %v", floodErr)
	}
	evicted, refusedB := after.NullEvictions-before.NullEvictions, after.NullRefusals-before.NullRefusals
	t.Logf("FIGURE null flood: %d NULL handshakes from %d sources in %v (%.0f/s): %d established, %d refused; b evicted %d, refused %d; NULL SAs at most %d in status samples (cap %d), %d at the end",
		nullFloodSources*nullFloodPerSource, nullFloodSources, floodTime.Round(time.Millisecond), float64(nullFloodSources*nullFloodPerSource)/floodTime.Seconds(),
		estab, refused, evicted, refusedB, maxNull, nullCapTotal, after.NullSAs)

	if samplesOverTotal > 0 || after.NullSAs > nullCapTotal {
		t.Errorf("NULL SAs over the total cap %d: %d samples over, at most %d, %d at the end", nullCapTotal, samplesOverTotal, maxNull, after.NullSAs)
	}
	perSource := map[netip.Prefix]int{}
	for _, ts := range tunnels(t, m, ctx, "b") {
		if p, err := netip.ParseAddr(ts.Peer); err == nil && nullFloodNet.Contains(p) {
			perSource[floodSource(p)]++
		}
	}
	for src, n := range perSource {
		if n > nullCapPerSource {
			t.Errorf("b holds %d tunnels from %s, over the per-source cap %d", n, src, nullCapPerSource)
		}
	}
	// Every handshake is accounted for: a refusal on both sides, or an SA
	// that b holds or evicted.
	if uint64(refused) != refusedB || uint64(estab) != evicted+uint64(after.NullSAs-before.NullSAs) {
		t.Errorf("flooder: %d established, %d refused; b: %d refused, %d evicted, NULL SAs %d → %d",
			estab, refused, refusedB, evicted, before.NullSAs, after.NullSAs)
	}
	if evicted == 0 || refusedB == 0 {
		t.Errorf("the flood evicted %d and refused %d: both paths should run (the fill's SAs were idle, the flood's not)", evicted, refusedB)
	}
	// Only idle SAs were evicted: none made during the flood (younger
	// than null_idle) is gone.
	f.mu.Lock()
	young := 0
	for _, sa := range f.gone {
		if sa.at.After(floodStart) {
			young++
		}
	}
	gone := len(f.gone)
	f.mu.Unlock()
	if young > 0 {
		t.Errorf("%d SAs made during the flood (not idle %v) were evicted", young, nullIdle)
	}
	if uint64(gone-goneBefore) != evicted {
		t.Errorf("the flooder saw %d Deletes during the flood, b evicted %d", gone-goneBefore, evicted)
	}

	// a's tunnel: no ping lost beyond 1%, the same SAs.
	t.Logf("FIGURE null flood: a→b pings through the keyed tunnel %d of %d", ping.Received, ping.Sent)
	if lost := ping.Sent - ping.Received; lost*100 > ping.Sent {
		t.Errorf("a→b lost %d of %d pings during the NULL flood (> 1%%)", lost, ping.Sent)
	}
	if spis := tunnelSPIs(t, m, ctx, "b", a.Addr4); fmt.Sprint(spis) != fmt.Sprint(spisBefore) {
		t.Errorf("b's tunnel with a changed: SPIs %v, before %v", spis, spisBefore)
	}
	heapAfter := liveHeap(t, m, ctx, "b")
	t.Logf("FIGURE null flood: b's live heap %.1f MiB before, %.1f MiB after (%d NULL SAs held)",
		float64(heapBefore)/(1<<20), float64(heapAfter)/(1<<20), after.NullSAs)
	if heapAfter > heapBefore+nullHeapBound {
		t.Errorf("b's live heap grew from %d to %d bytes, more than %d", heapBefore, heapAfter, nullHeapBound)
	}
}

// nullHeapBound is how much b's live heap may grow over the NULL flood:
// it holds at most nullCapTotal NULL SAs (10-20 KiB each with their
// tunnels) and the flood's bookkeeping; 8 MiB is generous for that and
// far below what the flood's 128 SAs uncapped with their handshakes
// would hold over many runs.
const nullHeapBound = 8 << 20

// checkNull checks b's NULL SA gauge and counters.
func checkNull(t *testing.T, m *lab.Mesh, ctx context.Context, when string, sas int, evictions, refusals uint64) {
	t.Helper()
	d := status(t, m, ctx, "b").Defences
	if d.NullSAs != sas || d.NullEvictions != evictions || d.NullRefusals != refusals {
		t.Fatalf("%s: b has %d NULL SAs, %d evicted, %d refused; want %d, %d, %d", when, d.NullSAs, d.NullEvictions, d.NullRefusals, sas, evictions, refusals)
	}
}

// nullSAsNow is host's NULL SA gauge, for a goroutine that may not fail
// the test: false when status cannot be read.
func nullSAsNow(m *lab.Mesh, ctx context.Context, host string) (int, bool) {
	out, err := m.CLI(ctx, host, "status", "--json")
	if err != nil {
		return 0, false
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Defences == nil {
		return 0, false
	}
	return st.Defences.NullSAs, true
}

// waitDeleted waits up to 3 s for the responder's Delete of the SA id.
func waitDeleted(t *testing.T, f *nullFlooder, id ike.SAID, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !f.deleted(id) {
		if time.Now().After(deadline) {
			t.Fatalf("no Delete for %s (%v)", what, id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tunnelSPIs are the inbound and outbound SPIs of host's tunnels with
// peer, sorted as traffic lists them.
func tunnelSPIs(t *testing.T, m *lab.Mesh, ctx context.Context, host string, peer netip.Addr) []string {
	t.Helper()
	var out []string
	for _, ts := range tunnels(t, m, ctx, host) {
		if ts.Peer == peer.String() {
			out = append(out, ts.SPIIn+"/"+ts.SPIOut)
		}
	}
	slices.Sort(out)
	return out
}

// liveHeap is host's live heap after a collection (oemesh memory --gc).
func liveHeap(t *testing.T, m *lab.Mesh, ctx context.Context, host string) uint64 {
	t.Helper()
	out, err := m.CLI(ctx, host, "memory", "--gc", "--json")
	if err != nil {
		t.Fatalf("oemesh memory on %s: %v\n%s", host, err, out)
	}
	var mem control.Memory
	if err := json.Unmarshal([]byte(out), &mem); err != nil {
		t.Fatalf("oemesh memory --json on %s: %v\n%s", host, err, out)
	}
	return mem.HeapLive
}
