package reliability

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/peers"
	"github.com/oemesh/oemesh/internal/reliability/flooder"
)

// floodPSK authenticates the legitimate negotiations with charon, which
// (5.9.8) has no NULL authentication.
const floodPSK = "flood-scenario-psk-0123456789"

// TestIKEFloodStrongSwan is TestIKEFlood's flood against strongSwan's
// charon 5.9.8 (Debian 12's, with its default cookie settings) as the
// responder on b, for the table beside oemeshd's (bench/ike-flood.sh
// runs it with OEMESH_FLOOD_STRONGSWAN=1; it reports figures and asserts
// only that the flood ran, so it is not part of make test). The
// differences: the legitimate negotiations authenticate with a PSK
// (`oemesh probe --auth psk`) rather than NULL, and a's pings to b go in
// the clear (charon does no OE), through the same veths.
func TestIKEFloodStrongSwan(t *testing.T) {
	if os.Getenv("OEMESH_FLOOD_STRONGSWAN") == "" {
		t.Skip("figures for bench/ike-flood.sh: set OEMESH_FLOOD_STRONGSWAN=1")
	}
	in := peers.Require(t)
	dur := floodSeconds(t)
	m := newMesh(t)
	ctx := ctxT(t, dur+90*time.Second)
	b, c, d := m.Hosts["b"], m.Hosts["c"], m.Hosts["d"]
	sw := peers.StartStrongSwan(t, in, b.Node.NSName, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{{
		Name: "flood", LocalAddrs: []string{b.Addr4.String()}, NoMobike: true,
		Local:  peers.StrongSwanAuth{Method: peers.AuthPSK, ID: b.Addr4.String()},
		Remote: peers.StrongSwanAuth{Method: peers.AuthPSK, ID: "%any"},
		PSK:    floodPSK, Children: []peers.StrongSwanChild{{Name: "flood"}},
	}}})
	_ = sw
	routeFlood(t, m)
	legit := legitAddrs(t, c, int(dur/time.Second)+2)
	psk := []string{"--auth", "psk", "--psk", floodPSK}
	if p := probe(ctx, m, legit[0], psk...); !p.Established {
		t.Fatalf("a legitimate negotiation with charon before the flood failed: %+v", p)
	}
	pids := nsPIDs(t, b.Node.NSName)

	answers, fl := openFlood(t, d, b)

	pingCtx, stopPing := context.WithCancel(ctx)
	defer stopPing()
	pings := make(chan pingStats, 1)
	go func() { pings <- pingUntil(pingCtx, m, "a", b.Addr4, floodPingInterval) }()
	floodCtx, stopFlood := context.WithTimeout(ctx, dur)
	defer stopFlood()
	began := time.Now()
	var cpu0 time.Duration
	for _, p := range pids {
		cpu0 += cpuTime(p)
	}
	floodDone := make(chan flooder.Result, 1)
	go func() { floodDone <- fl.Run(floodCtx) }()
	var cookiesAt atomic.Int64 // time.Duration; -1 until the first cookie
	cookiesAt.Store(-1)
	go func() {
		for floodCtx.Err() == nil {
			if answers.Counts().Cookies > 0 {
				cookiesAt.Store(int64(time.Since(began)))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	var (
		mu      sync.Mutex
		results []probeResult
		wg      sync.WaitGroup
	)
	tick := time.NewTicker(time.Second)
	for i := 1; i < len(legit); i++ {
		<-tick.C
		if time.Until(began.Add(dur)) < floodSetupBound {
			break
		}
		wg.Add(1)
		go func(a netip.Addr) {
			defer wg.Done()
			p := probe(ctx, m, a, psk...)
			mu.Lock()
			results = append(results, p)
			mu.Unlock()
		}(legit[i])
	}
	tick.Stop()
	res := <-floodDone
	var cpu1 time.Duration
	for _, p := range pids {
		cpu1 += cpuTime(p)
	}
	cpu := (cpu1 - cpu0).Seconds() / time.Since(began).Seconds()
	wg.Wait()
	flooded := answers.Counts()
	stopPing()
	ps := <-pings

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
	t.Logf("FIGURE flood strongSwan: %v offered %.0f/s (%d sent) from %v; charon answered %v; first cookie demand %v after the start",
		res.Elapsed.Round(time.Millisecond), res.Rate(), res.Sent, floodSources, flooded, time.Duration(cookiesAt.Load()).Round(10*time.Millisecond))
	t.Logf("FIGURE flood strongSwan: legitimate negotiations (PSK) within %v: %d of %d; setup median %v p99 %v; pings (clear) %d of %d (loss %.2f%%), RTT p99 %v; charon CPU %.0f%%",
		floodSetupBound, ok, len(results), quantile(setups, 0.5), quantile(setups, 0.99), ps.received, ps.sent, ps.lossPct(), quantile(ps.rtts, 0.99), 100*cpu)
	t.Logf("FIGURE flood-row | %.0f/s | %d/s | %d of %d | %v / %v | %.2f%% / %v | %.0f%% | n/a |",
		res.Rate(), int(float64(flooded.Cookies+flooded.Full)/res.Elapsed.Seconds()), ok, len(results),
		quantile(setups, 0.5), quantile(setups, 0.99), ps.lossPct(), quantile(ps.rtts, 0.99), 100*cpu)
	for _, p := range results {
		if !p.Established || p.Setup > floodSetupBound {
			t.Logf("legitimate negotiation from %v: established %v in %v: %s", p.Local, p.Established, p.Setup, p.Error)
		}
	}
	if res.Sent == 0 || flooded.Cookies+flooded.Full == 0 {
		t.Errorf("the flood did not run: %v; charon answered %v", res, flooded)
	}
}

// nsPIDs are the processes in network namespace ns.
func nsPIDs(t *testing.T, ns string) []int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		t.Fatalf("ip netns pids %s: %v", ns, err)
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}
