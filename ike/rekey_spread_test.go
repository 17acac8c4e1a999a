package ike

import (
	"testing"
	"time"
)

// rekeyTimes brings up n SAs from A to B at one simulated instant, then
// walks the simulated clock through the rekey window in steps and
// returns how many rekeys each step saw (counted by count on A).
func rekeyTimes(t *testing.T, n int, mod func(*EngineConfig), from, step time.Duration, steps int, count func(Stats) uint64) []uint64 {
	t.Helper()
	net, a, b := newPair(t, nil, nil, mod)
	for range n {
		if _, err := net.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
			t.Fatal(err)
		}
	}
	base := count(a.e.Stats())
	net.advance(from)
	if got := count(a.e.Stats()); got != base {
		t.Fatalf("%d rekeys before the window opened at %v", got-base, from)
	}
	out := make([]uint64, steps)
	last := base
	for i := range out {
		net.advance(step)
		now := count(a.e.Stats())
		out[i], last = now-last, now
	}
	if last-base != uint64(n) {
		t.Fatalf("%d rekeys in the window, want %d: %v", last-base, n, out)
	}
	checkConsistent(t, a, b, n)
	return out
}

// spreadCheck fails if any step holds more than maxShare of the rekeys,
// or fewer than minSteps steps see any.
func spreadCheck(t *testing.T, per []uint64, n int, maxShare float64, minSteps int) {
	t.Helper()
	busy := 0
	for _, k := range per {
		if float64(k) > maxShare*float64(n) {
			t.Errorf("%d of %d rekeys in one step (more than %.0f%%): %v", k, n, maxShare*100, per)
		}
		if k > 0 {
			busy++
		}
	}
	if busy < minSteps {
		t.Errorf("rekeys in %d steps, want at least %d: %v", busy, minSteps, per)
	}
}

func TestRekeySpread(t *testing.T) {
	// 200 SAs made at once. Lifetime 100 min, margin 10 min, fuzz 0.5
	// (the default): A, the initiator, rekeys each CHILD SA at a random
	// time in [85, 90] min; B's own timers (at [90, 95] min) never fire
	// first. Ten 30 s steps over A's window: a wave would put every
	// rekey in one step; uniform spreading puts 10% in each.
	const n = 200
	childRekeys := func(s Stats) uint64 { return s.ChildInstalled }
	t.Run("child", func(t *testing.T) {
		per := rekeyTimes(t, n, func(c *EngineConfig) {
			c.IKELifetime, c.ChildLifetime, c.RekeyMargin = 100*time.Hour, 100*time.Minute, 10*time.Minute
		}, 85*time.Minute, 30*time.Second, 10, childRekeys)
		spreadCheck(t, per, n, 0.25, 8)
	})
	t.Run("ike", func(t *testing.T) {
		per := rekeyTimes(t, n, func(c *EngineConfig) {
			c.IKELifetime, c.ChildLifetime, c.RekeyMargin = 100*time.Minute, 100*time.Hour, 10*time.Minute
		}, 85*time.Minute, 30*time.Second, 10, func(s Stats) uint64 { return s.IKEEstablished })
		spreadCheck(t, per, n, 0.25, 8)
	})
	t.Run("no-fuzz-is-a-wave", func(t *testing.T) {
		// The same without fuzz: every rekey in the step of the margin.
		// (This is what the two above would see if fuzz were lost.)
		per := rekeyTimes(t, n, func(c *EngineConfig) {
			c.IKELifetime, c.ChildLifetime, c.RekeyMargin = 100*time.Hour, 100*time.Minute, 10*time.Minute
			c.RekeyFuzz = -1
		}, 85*time.Minute, 30*time.Second, 10, childRekeys)
		if per[9] != n {
			t.Errorf("without fuzz, want all %d rekeys at 90 min: %v", n, per)
		}
	})
}

func TestRekeyFuzzBounds(t *testing.T) {
	// The fuzz never moves a rekey past RekeyFuzz × margin earlier, nor
	// below half of what precedes the margin; a fuzz above 1 is 1.
	for _, tc := range []struct {
		fuzz             float64
		lifetime, margin time.Duration
		want             time.Duration // exclusive bound
	}{
		{0, time.Hour, 6 * time.Minute, 3 * time.Minute}, // default 0.5
		{1, time.Hour, 6 * time.Minute, 6 * time.Minute},
		{5, time.Hour, 6 * time.Minute, 6 * time.Minute},
		{1, 10 * time.Minute, 8 * time.Minute, time.Minute},
		{-1, time.Hour, 6 * time.Minute, 0},
	} {
		cfg := EngineConfig{RekeyFuzz: tc.fuzz}
		cfg.setDefaults()
		e := &Engine{cfg: cfg}
		var hi time.Duration
		for range 2000 {
			d := e.rekeyFuzz(tc.lifetime, tc.margin)
			if d < 0 || (d >= tc.want && tc.want > 0) || (tc.want == 0 && d != 0) {
				t.Fatalf("fuzz %v, lifetime %v, margin %v: drew %v, want in [0, %v)", tc.fuzz, tc.lifetime, tc.margin, d, tc.want)
			}
			hi = max(hi, d)
		}
		if tc.want > 0 && hi < tc.want*9/10 {
			t.Errorf("fuzz %v, lifetime %v, margin %v: the largest of 2000 draws is %v, want near %v", tc.fuzz, tc.lifetime, tc.margin, hi, tc.want)
		}
	}
}

func TestLivenessSpread(t *testing.T) {
	// 200 quiet SAs made at once, liveness every 4 min: the first checks
	// come in [3, 4] min, spread, not all at 4 min. Each SA pair checks
	// once in that window (one request, one answer): whichever side
	// checks first, its request is traffic to the other, whose check
	// then finds it not idle. The first of two uniform draws leans
	// early (a fifth of the checks in the first step), so the bound per
	// step is looser than for rekeys; a wave puts them all in one.
	const n = 200
	net, a, b := newPair(t, nil, nil, func(c *EngineConfig) { c.Liveness = 4 * time.Minute })
	for range n {
		if _, err := net.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
			t.Fatal(err)
		}
	}
	net.advance(3*time.Minute - time.Millisecond)
	per := make([]uint64, 10)
	total := 0
	for i := range per {
		before := net.sent
		net.advance(6 * time.Second)
		per[i] = uint64(net.sent-before) / 2
		total += net.sent - before
	}
	if total != 2*n {
		t.Errorf("%d datagrams in the window, want %d (one check per SA pair): %v", total, 2*n, per)
	}
	spreadCheck(t, per, n, 0.35, 8)
	checkConsistent(t, a, b, n)
}

func TestSoftLifetimeSpread(t *testing.T) {
	// The data plane's soft limit (on which oe rekeys too) is the
	// engine's own fuzzed rekey time: spread, the initiator's in
	// [85, 90] min and the responder's in [90, 95] min for a 100 min
	// lifetime and a 10 min margin; the hard limit stays at 100 min.
	const n = 100
	net, a, b := newPair(t, nil, nil, func(c *EngineConfig) {
		c.ChildLifetime, c.RekeyMargin = 100*time.Minute, 10*time.Minute
	})
	for range n {
		if _, err := net.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
			t.Fatal(err)
		}
	}
	for _, side := range []struct {
		name   string
		p      *testPeer
		lo, hi time.Duration
	}{{"initiator", a, 85 * time.Minute, 90 * time.Minute}, {"responder", b, 90 * time.Minute, 95 * time.Minute}} {
		side.p.inst.mu.Lock()
		distinct := map[time.Duration]bool{}
		for _, c := range side.p.inst.installed {
			if c.SoftLifetime < side.lo || c.SoftLifetime > side.hi || c.HardLifetime != 100*time.Minute {
				t.Errorf("%s: soft %v hard %v, want soft in [%v, %v], hard 100m", side.name, c.SoftLifetime, c.HardLifetime, side.lo, side.hi)
			}
			distinct[c.SoftLifetime] = true
		}
		side.p.inst.mu.Unlock()
		if len(distinct) < n*9/10 {
			t.Errorf("%s: %d distinct soft lifetimes among %d SAs: a wave", side.name, len(distinct), n)
		}
	}
}
