package main

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/clock/clocktest"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
)

func testPair(spi uint32) kernel.SAPair {
	us, peer := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	return kernel.SAPair{
		In:   kernel.SA{SPI: spi, Src: peer, Dst: us},
		Out:  kernel.SA{SPI: spi + 1, Src: us, Dst: peer},
		Mode: kernel.ModeTransport,
	}
}

// TestMeteredDataplaneMonotonic: the totals count every pair's traffic,
// deleted pairs' included, up to their final counters (read at the
// delete, not at the last scrape), and never go down: not when a pair is
// deleted, not when a data plane reports less than before.
func TestMeteredDataplaneMonotonic(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New()
	dp := fake.New(clk.Now)
	var installs []float64
	m := newMeteredDataplane(dp, clk, func(s float64, err error) {
		if err == nil {
			installs = append(installs, s)
		}
	})
	a, b := testPair(0x100), testPair(0x200)
	for _, p := range []kernel.SAPair{a, b} {
		if err := m.InstallSA(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if len(installs) != 2 {
		t.Errorf("%d installs timed, want 2", len(installs))
	}
	var prev trafficTotals
	check := func(what string, want trafficTotals) {
		t.Helper()
		got := m.Totals(ctx)
		if got.InBytes < prev.InBytes || got.OutBytes < prev.OutBytes || got.InPackets < prev.InPackets || got.OutPackets < prev.OutPackets {
			t.Errorf("%s: totals went down: %+v after %+v", what, got, prev)
		}
		if got != want {
			t.Errorf("%s: totals %+v, want %+v", what, got, want)
		}
		prev = got
	}
	check("nothing sent", trafficTotals{})

	dp.SetCounters(a.ID(), kernel.Counters{InBytes: 100, OutBytes: 200, InPackets: 1, OutPackets: 2})
	dp.SetCounters(b.ID(), kernel.Counters{InBytes: 10, OutBytes: 20, InPackets: 1, OutPackets: 1})
	check("two pairs", trafficTotals{InBytes: 110, OutBytes: 220, InPackets: 2, OutPackets: 3})

	// a carries more after the scrape, then goes: its final counters count.
	dp.SetCounters(a.ID(), kernel.Counters{InBytes: 150, OutBytes: 300, InPackets: 2, OutPackets: 3})
	if err := m.DeleteSA(ctx, a.ID(), kernel.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	check("a deleted", trafficTotals{InBytes: 160, OutBytes: 320, InPackets: 3, OutPackets: 4})

	// A data plane that reports less than before (a counter read
	// mid-update) does not take the totals down.
	dp.SetCounters(b.ID(), kernel.Counters{InBytes: 5})
	check("b reads less", trafficTotals{InBytes: 160, OutBytes: 320, InPackets: 3, OutPackets: 4})

	// Updating b (a rekey's InstallSA of the same pair) keeps its counters.
	if err := m.InstallSA(ctx, b); err != nil {
		t.Fatal(err)
	}
	check("b updated", trafficTotals{InBytes: 160, OutBytes: 320, InPackets: 3, OutPackets: 4})

	if err := m.DeleteSA(ctx, b.ID(), kernel.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	check("all deleted", trafficTotals{InBytes: 160, OutBytes: 320, InPackets: 3, OutPackets: 4})

	// A failed delete keeps the pair metered; a delete of a pair never
	// installed through the meter changes nothing.
	c := testPair(0x300)
	if err := m.InstallSA(ctx, c); err != nil {
		t.Fatal(err)
	}
	dp.SetCounters(c.ID(), kernel.Counters{InBytes: 1})
	dp.FailNext("DeleteSA", context.DeadlineExceeded)
	if err := m.DeleteSA(ctx, c.ID(), kernel.DeleteOptions{}); err == nil {
		t.Fatal("DeleteSA did not pass the data plane's error on")
	}
	check("failed delete", trafficTotals{InBytes: 161, OutBytes: 320, InPackets: 3, OutPackets: 4})
	if err := m.DeleteSA(ctx, testPair(0x400).ID(), kernel.DeleteOptions{}); err == nil {
		t.Fatal("DeleteSA of an unknown pair succeeded")
	}
	check("unknown pair", trafficTotals{InBytes: 161, OutBytes: 320, InPackets: 3, OutPackets: 4})

	// A pair the data plane removed by itself (a hard expiry): the
	// DeleteSA that follows fails, and the pair is retired with its last
	// counters rather than kept for ever.
	if err := dp.DeleteSA(ctx, c.ID(), kernel.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := m.DeleteSA(ctx, c.ID(), kernel.DeleteOptions{}); err == nil {
		t.Fatal("DeleteSA of a pair already gone succeeded")
	}
	check("pair gone", trafficTotals{InBytes: 161, OutBytes: 320, InPackets: 3, OutPackets: 4})
	m.mu.Lock()
	left := len(m.live)
	m.mu.Unlock()
	if left != 0 {
		t.Errorf("%d pairs still metered after every one went", left)
	}
}

// TestMeteredDataplaneInstallTime: the install time comes from the
// injected clock.
func TestMeteredDataplaneInstallTime(t *testing.T) {
	clk := clocktest.New()
	slow := &slowInstall{Dataplane: fake.New(clk.Now), advance: func() { clk.Advance(30 * time.Millisecond) }}
	var got []float64
	m := newMeteredDataplane(slow, clk, func(s float64, _ error) { got = append(got, s) })
	if err := m.InstallSA(context.Background(), testPair(0x10)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != 0.03 {
		t.Errorf("install times %v, want [0.03]", got)
	}
}

// slowInstall is a data plane whose InstallSA takes time on a fake clock.
type slowInstall struct {
	*fake.Dataplane
	advance func()
}

func (s *slowInstall) InstallSA(ctx context.Context, p kernel.SAPair) error {
	s.advance()
	return s.Dataplane.InstallSA(ctx, p)
}
