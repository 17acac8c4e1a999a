package fake

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

func TestRecordsAndKeepsState(t *testing.T) {
	now := time.Date(2026, 11, 27, 15, 0, 0, 0, time.UTC)
	d := New(func() time.Time { return now })
	ctx := context.Background()
	p24 := netip.MustParsePrefix("192.0.2.0/24")
	if err := d.SetTrap(ctx, kernel.Trap{Prefix: p24, Group: kernel.GroupPrivateOrClear}); err != nil {
		t.Fatal(err)
	}
	flow := kernel.Flow{Src: netip.MustParseAddr("198.51.100.1"), Dst: netip.MustParseAddr("192.0.2.7")}
	d.InjectAcquire(kernel.Acquire{Flow: flow})
	a := <-d.Acquires()
	if a.Trap != p24 || a.Group != kernel.GroupPrivateOrClear || !a.Time.Equal(now) {
		t.Fatalf("acquire = %+v, want trap %s group private-or-clear at %v", a, p24, now)
	}
	spi, err := d.AllocSPI(ctx, flow.Dst, flow.Src)
	if err != nil || spi == 0 {
		t.Fatalf("AllocSPI = %#x, %v", spi, err)
	}
	pair := kernel.SAPair{
		In:   kernel.SA{SPI: spi, Src: flow.Dst, Dst: flow.Src, AEAD: kernel.AESGCM16},
		Out:  kernel.SA{SPI: 0x1234, Src: flow.Src, Dst: flow.Dst, AEAD: kernel.AESGCM16},
		Mode: kernel.ModeTransport,
	}
	if err := d.InstallSA(ctx, pair); err != nil {
		t.Fatal(err)
	}
	d.SetCounters(pair.ID(), kernel.Counters{InPackets: 3})
	if c, err := d.SACounters(ctx, pair.ID()); err != nil || c.InPackets != 3 {
		t.Fatalf("SACounters = %+v, %v", c, err)
	}
	if err := d.SetShunt(ctx, kernel.Shunt{Flow: flow, Kind: kernel.ShuntPass, Lifetime: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if n := d.ExpireShunts(); n != 0 {
		t.Fatalf("shunt expired early: %d", n)
	}
	now = now.Add(time.Minute)
	if n := d.ExpireShunts(); n != 1 {
		t.Fatalf("ExpireShunts after lifetime = %d, want 1", n)
	}
	if e := <-d.Expires(); e.Kind != kernel.ExpireShunt || e.Flow != flow {
		t.Fatalf("expire = %+v", e)
	}
	if err := d.DeleteSA(ctx, pair.ID(), kernel.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteSA(ctx, pair.ID(), kernel.DeleteOptions{}); err == nil {
		t.Fatal("second DeleteSA of the same pair succeeded")
	}
	want := []string{"SetTrap", "AllocSPI", "InstallSA", "SACounters", "SetShunt", "DeleteSA", "DeleteSA"}
	if got := d.Methods(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	boom := errors.New("boom")
	d.FailNext("InstallSA", boom)
	if err := d.InstallSA(ctx, pair); !errors.Is(err, boom) {
		t.Fatalf("injected error: got %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-d.Acquires(); ok {
		t.Fatal("Acquires not closed by Close")
	}
	if err := d.SetTrap(ctx, kernel.Trap{Prefix: p24}); err == nil {
		t.Fatal("SetTrap after Close succeeded")
	}
}

// TestRefusesUnsetMode: like the real data planes, the fake refuses a pair
// with no mode, so oe's tests catch a forgotten mode.
func TestRefusesUnsetMode(t *testing.T) {
	d := New(time.Now)
	a, b := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("192.0.2.7")
	pair := kernel.SAPair{
		In:  kernel.SA{SPI: 0x1000, Src: b, Dst: a, AEAD: kernel.AESGCM16},
		Out: kernel.SA{SPI: 0x1234, Src: a, Dst: b, AEAD: kernel.AESGCM16},
	}
	if err := d.InstallSA(t.Context(), pair); err == nil {
		t.Fatal("pair with no mode installed")
	}
	if len(d.SAs()) != 0 {
		t.Fatal("refused pair kept")
	}
}
