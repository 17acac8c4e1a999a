package clock_test

import (
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/internal/clock/clocktest"
)

// TestTickerFake: a ticker on a fake clock ticks once per period as the
// test moves time, with the time of the tick; a reader that falls behind
// gets one tick, not a backlog; after Stop, none.
func TestTickerFake(t *testing.T) {
	clk := clocktest.New()
	tk := clock.NewTicker(clk, time.Minute)
	select {
	case <-tk.C:
		t.Fatal("ticked before any time passed")
	default:
	}
	clk.Advance(59 * time.Second)
	select {
	case <-tk.C:
		t.Fatal("ticked before a period passed")
	default:
	}
	clk.Advance(time.Second)
	select {
	case at := <-tk.C:
		if want := clocktest.Start.Add(time.Minute); !at.Equal(want) {
			t.Errorf("tick at %v, want %v", at, want)
		}
	default:
		t.Fatal("no tick after a period")
	}
	// Five periods unread: one tick waits, the first of them.
	clk.Advance(5 * time.Minute)
	if at := <-tk.C; !at.Equal(clocktest.Start.Add(2 * time.Minute)) {
		t.Errorf("the waiting tick is at %v, want the first missed one", at)
	}
	select {
	case <-tk.C:
		t.Fatal("more than one tick waited")
	default:
	}
	// It keeps its phase: the next falls at 7 minutes.
	clk.Advance(time.Minute)
	if at := <-tk.C; !at.Equal(clocktest.Start.Add(7 * time.Minute)) {
		t.Errorf("tick at %v, want at 7 minutes", at)
	}
	tk.Stop()
	clk.Advance(time.Hour)
	select {
	case <-tk.C:
		t.Fatal("ticked after Stop")
	default:
	}
	if n := clk.Pending(); n != 0 {
		t.Errorf("%d timers armed after Stop", n)
	}
}

// TestTickerSystem: on the real clock it ticks too.
func TestTickerSystem(t *testing.T) {
	tk := clock.NewTicker(clock.System{}, time.Millisecond)
	defer tk.Stop()
	for range 3 {
		select {
		case <-tk.C:
		case <-time.After(10 * time.Second):
			t.Fatal("no tick")
		}
	}
}

func TestTickerPanicsOnZeroPeriod(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("NewTicker(0) did not panic")
		}
	}()
	clock.NewTicker(clocktest.New(), 0)
}
