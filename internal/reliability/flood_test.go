package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
	"github.com/oemesh/oemesh/internal/reliability/flooder"
)

// floodSources is the spoofed /16 the flood comes from: routed from b
// to d (the flooder), where it is local, so that b's answers reach d's
// answer counter and nothing else. It lies outside the mesh's
// 198.18.0.0/15.
var floodSources = netip.MustParsePrefix("100.64.0.0/16")

// Bounds of the flood scenario (issue 18).
const (
	floodCookieWithin   = time.Second     // cookie mode on after the flood starts
	floodSetupBound     = 2 * time.Second // each legitimate negotiation under the flood
	floodRecoverWithin  = 10 * time.Second
	floodPingLossPct    = 1.0
	floodHeapBound      = 64 << 20 // live heap during the flood
	floodPingInterval   = 20 * time.Millisecond
	floodDefaultSeconds = 15
	// floodDefaultRate is the short form's rate: what a 2-core box
	// shared with other builds sustains beside the flooder with margin
	// (oemeshd answered 24,000–28,000/s on it). bench/ike-flood.sh runs
	// the flood as fast as the flooder can too.
	floodDefaultRate = 20000
)

// floodSeconds is the flood's length: the short form (15 s) unless
// OEMESH_FLOOD_SECONDS says otherwise (bench/ike-flood.sh runs the long
// form).
func floodSeconds(t *testing.T) time.Duration {
	if s := os.Getenv("OEMESH_FLOOD_SECONDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("OEMESH_FLOOD_SECONDS=%q: want a number of seconds", s)
		}
		return time.Duration(n) * time.Second
	}
	return floodDefaultSeconds * time.Second
}

// floodRate is the flood's aim in requests per second: floodDefaultRate
// unless OEMESH_FLOOD_RATE says otherwise (0: as fast as the flooder can).
func floodRate(t *testing.T) int {
	s := os.Getenv("OEMESH_FLOOD_RATE")
	if s == "" {
		return floodDefaultRate
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("OEMESH_FLOOD_RATE=%q: want requests per second", s)
	}
	return n
}

// TestIKEFlood (the short form: 15 s of flood at 20,000/s;
// OEMESH_FLOOD_SECONDS and OEMESH_FLOOD_RATE=0, as fast as the flooder
// can, make the long one, bench/ike-flood.sh): b is a responder with an
// established tunnel from a, which pings through it the whole time. d
// floods b with well-formed IKE_SA_INIT from random addresses of a
// spoofed /16. OEMESH_FLOOD_B_CONFIG is added to b's configuration (the
// levers under ike.limits, to measure them one by one).
// Every second a new legitimate peer (an address of c of its own, with
// `oemesh probe`) negotiates an IKE SA and a CHILD SA with b. Asserted:
// cookie mode on (status, metric source, log line) within 1 s of the
// flood's start; at most 1% of the pings lost; each legitimate
// negotiation up within 2 s; the half-open SAs within b's limit and the
// live heap within floodHeapBound during the flood; both back to their
// baseline within 10 s after it.
func TestIKEFlood(t *testing.T) {
	dur := floodSeconds(t)
	m := newMesh(t)
	ctx := ctxT(t, dur+90*time.Second)
	b, c, d := m.Hosts["b"], m.Hosts["c"], m.Hosts["d"]
	start(t, m, ctx, "b", lab.HostConfig{Policies: responderPolicies, Extra: os.Getenv("OEMESH_FLOOD_B_CONFIG")})
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiatorPolicies})
	if r := m.Ping(ctx, "a", b.Addr4, 3, 100*time.Millisecond); r.Received < 2 {
		t.Fatalf("no tunnel a→b: %+v", r)
	}
	routeFlood(t, m)
	legit := legitAddrs(t, c, int(dur/time.Second)+2)

	// The baseline, and one negotiation before the flood.
	st0 := status(t, m, ctx, "b")
	before := st0.Defences
	heap0 := heapLive(t, m, ctx, "b", true)
	if p := probe(ctx, m, legit[0]); !p.Established {
		t.Fatalf("a legitimate negotiation before the flood failed: %+v", p)
	}

	answers, fl := openFlood(t, d, b)

	pingCtx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	pings := make(chan pingStats, 1)
	go func() { pings <- pingUntil(pingCtx, m, "a", b.Addr4, floodPingInterval) }()

	floodCtx, stopFlood := context.WithTimeout(ctx, dur)
	defer stopFlood()
	began := time.Now()
	cpu0 := cpuTime(st0.PID)
	floodDone := make(chan flooder.Result, 1)
	go func() { floodDone <- fl.Run(floodCtx) }()

	// Legitimate negotiations, one a second, each from an address of its
	// own.
	var (
		mu      sync.Mutex
		results []probeResult
		wg      sync.WaitGroup
	)
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 1; floodCtx.Err() == nil && i < len(legit); i++ {
			select {
			case <-floodCtx.Done():
				return
			case <-tick.C:
			}
			if time.Until(began.Add(dur)) < floodSetupBound {
				return // it would end after the flood
			}
			wg.Add(1)
			go func(a netip.Addr) {
				defer wg.Done()
				p := probe(ctx, m, a)
				mu.Lock()
				results = append(results, p)
				mu.Unlock()
			}(legit[i])
		}
	}()

	// Watch b while the flood lasts.
	var (
		cookieOn    time.Duration = -1
		maxHalfOpen int
		maxHeap     uint64
		st          = before
	)
	for floodCtx.Err() == nil {
		st = status(t, m, ctx, "b").Defences
		if st.CookieMode && cookieOn < 0 {
			cookieOn = time.Since(began)
		}
		maxHalfOpen = max(maxHalfOpen, st.HalfOpen)
		maxHeap = max(maxHeap, heapLive(t, m, ctx, "b", false))
		select {
		case <-floodCtx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	res := <-floodDone
	cpu := (cpuTime(st0.PID) - cpu0).Seconds() / time.Since(began).Seconds()
	wg.Wait()
	during := st
	flooded := answers.Counts()

	// Recovery: half-open SAs and heap back to the baseline, cookie mode
	// off.
	var recovered time.Duration = -1
	var after *control.Defences
	var heap1 uint64
	ended := time.Now()
	for time.Since(ended) < floodRecoverWithin+5*time.Second {
		after = status(t, m, ctx, "b").Defences
		heap1 = heapLive(t, m, ctx, "b", true)
		if after.HalfOpen <= before.HalfOpen && !after.CookieMode && heap1 <= heap0+heap0/2+(4<<20) {
			recovered = time.Since(ended)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	stopPing()
	ps := <-pings
	onLog := strings.Contains(m.Log("b"), "ike: cookie mode on")

	ok, setups := 0, []time.Duration{}
	for _, p := range results {
		if p.Established && p.Setup <= floodSetupBound {
			ok++
		}
		if p.Established {
			setups = append(setups, p.Setup)
		}
	}
	slices.Sort(setups)
	sockDrops := during.IKEDrops
	t.Logf("FIGURE flood: %v offered %.0f/s (%d sent) from %v; b answered %v; b's drops %v, cookies demanded %d, verified %d",
		res.Elapsed.Round(time.Millisecond), res.Rate(), res.Sent, floodSources, flooded, sockDrops,
		during.CookiesDemanded-before.CookiesDemanded, during.CookiesVerified-before.CookiesVerified)
	back := "not within " + (floodRecoverWithin + 5*time.Second).String()
	if recovered >= 0 {
		back = recovered.Round(10 * time.Millisecond).String()
	}
	t.Logf("FIGURE flood: cookie mode on %v after the start (log line %v); half-open max %d; live heap %s → max %s → %s",
		cookieOn.Round(10*time.Millisecond), onLog, maxHalfOpen, mib(heap0), mib(maxHeap), mib(heap1))
	t.Logf("FIGURE flood: legitimate negotiations within %v: %d of %d; setup median %v p99 %v; pings %d of %d (loss %.2f%%), RTT p50 %v p99 %v; back to baseline %s after (half-open %d, cookie mode %v)",
		floodSetupBound, ok, len(results), quantile(setups, 0.5), quantile(setups, 0.99), ps.received, ps.sent, ps.lossPct(),
		quantile(ps.rtts, 0.5), quantile(ps.rtts, 0.99), back, after.HalfOpen, after.CookieMode)
	t.Logf("FIGURE flood-row | %.0f/s | %d/s | %d of %d | %v / %v | %.2f%% / %v | %.0f%% | %s |",
		res.Rate(), int(float64(flooded.Cookies+flooded.Full)/res.Elapsed.Seconds()), ok, len(results),
		quantile(setups, 0.5), quantile(setups, 0.99), ps.lossPct(), quantile(ps.rtts, 0.99), 100*cpu, back)
	for _, p := range results {
		if !p.Established || p.Setup > floodSetupBound {
			t.Logf("legitimate negotiation from %v: established %v in %v: %s", p.Local, p.Established, p.Setup, p.Error)
		}
	}

	if cookieOn < 0 || cookieOn > floodCookieWithin || !onLog {
		t.Errorf("cookie mode on %v after the flood began (log line %v), want within %v", cookieOn, onLog, floodCookieWithin)
	}
	if ps.lossPct() > floodPingLossPct {
		t.Errorf("the tunnel lost %.2f%% of its pings (%d of %d), want at most %v%%", ps.lossPct(), ps.sent-ps.received, ps.sent, floodPingLossPct)
	}
	if len(results) < int(dur/time.Second)-3 || ok != len(results) {
		t.Errorf("%d of %d legitimate negotiations up within %v, want all (and at least %d)", ok, len(results), floodSetupBound, int(dur/time.Second)-3)
	}
	if limit := halfOpenLimit; maxHalfOpen > limit {
		t.Errorf("half-open SAs reached %d during the flood, want at most %d", maxHalfOpen, limit)
	}
	if maxHeap > floodHeapBound {
		t.Errorf("live heap reached %s during the flood, want at most %s", mib(maxHeap), mib(floodHeapBound))
	}
	if recovered < 0 || recovered > floodRecoverWithin {
		t.Errorf("not back to baseline within %v of the flood's end: half-open %d (was %d), cookie mode %v, live heap %s (was %s)",
			floodRecoverWithin, after.HalfOpen, before.HalfOpen, after.CookieMode, mib(heap1), mib(heap0))
	}
}

// halfOpenLimit is oemeshd's most half-open SAs (ike.EngineConfig's
// HalfOpenLimit default; the daemon does not change it).
const halfOpenLimit = 4096

// routeFlood routes the spoofed sources from b to d and makes them local
// on d, where the flooder's answer counter listens.
func routeFlood(t *testing.T, m *lab.Mesh) {
	t.Helper()
	b, d := m.Hosts["b"], m.Hosts["d"]
	if err := b.Node.Route(floodSources.String(), d.Addr4.String()); err != nil {
		t.Fatal(err)
	}
	if out, err := d.Node.Command(context.Background(), "ip", "route", "add", "local", floodSources.String(), "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("d: local route for %v: %v\n%s", floodSources, err, out)
	}
}

// legitAddrs gives c n more addresses on the LAN, one for each legitimate
// peer.
func legitAddrs(t *testing.T, c *lab.MeshHost, n int) []netip.Addr {
	t.Helper()
	var out []netip.Addr
	for i := range n {
		a := netip.AddrFrom4([4]byte{198, 18, 0, byte(100 + i)})
		if err := c.Node.Addr("eth0", netip.PrefixFrom(a, 24).String()); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// probeResult is one legitimate negotiation.
type probeResult struct {
	Local       netip.Addr
	Established bool
	Setup       time.Duration // the exchanges' time, from the probe's report
	Error       string
}

// probe negotiates from c's address local to b with `oemesh probe`
// (NULL authentication, as an OE peer without a key, unless args say
// otherwise).
func probe(ctx context.Context, m *lab.Mesh, local netip.Addr, args ...string) probeResult {
	bin := filepath.Join(binDir, "oemesh")
	args = append([]string{"probe", m.Hosts["b"].Addr4.String(), "--local", local.String(), "--json", "--timeout", "5s"}, args...)
	out, err := m.Hosts["c"].Node.Command(ctx, bin, args...).Output()
	r := probeResult{Local: local}
	var rep struct {
		Established bool   `json:"established"`
		Error       string `json:"error"`
		Exchanges   []struct {
			Exchange string  `json:"exchange"`
			Ms       float64 `json:"ms"`
		} `json:"exchanges"`
	}
	if jerr := json.Unmarshal(out, &rep); jerr != nil {
		r.Error = fmt.Sprintf("probe: %v, %v: %s", err, jerr, out)
		return r
	}
	r.Established, r.Error = rep.Established, rep.Error
	for _, x := range rep.Exchanges {
		if x.Exchange == "INFORMATIONAL" {
			continue // the Delete at the end
		}
		r.Setup += time.Duration(x.Ms * float64(time.Millisecond))
	}
	return r
}

// heapLive is b's live heap, after a garbage collection when gc.
func heapLive(t *testing.T, m *lab.Mesh, ctx context.Context, name string, gc bool) uint64 {
	t.Helper()
	args := []string{"memory", "--json"}
	if gc {
		args = append(args, "--gc")
	}
	out, err := m.CLI(ctx, name, args...)
	if err != nil {
		t.Fatalf("oemesh memory on %s: %v\n%s", name, err, out)
	}
	var mem control.Memory
	if err := json.Unmarshal([]byte(out), &mem); err != nil {
		t.Fatalf("oemesh memory --json on %s: %v\n%s", name, err, out)
	}
	return mem.HeapLive
}

// cpuTime is the CPU time (user and system) process pid has used, 0 if
// it cannot be read.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// After the command's closing parenthesis: state is field 3, utime
	// and stime fields 14 and 15, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// openFlood opens, in d, the counter of b's answers and the flooder toward
// b's port 500 from floodSources; both close when the test ends.
func openFlood(t *testing.T, d, b *lab.MeshHost) (*flooder.Answers, *flooder.Flooder) {
	t.Helper()
	var (
		answers *flooder.Answers
		fl      *flooder.Flooder
	)
	err := d.Node.Do(func() (err error) {
		if answers, err = flooder.ListenAnswers(500); err != nil {
			return err
		}
		fl, err = flooder.Open(flooder.Config{Target: netip.AddrPortFrom(b.Addr4, 500), Sources: floodSources, Rate: floodRate(t)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { answers.Close(); fl.Close() })
	return answers, fl
}
