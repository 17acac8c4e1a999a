package userspace

import (
	"testing"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestNetnsOffloadSetting checks that Config.NoOffloads opens a plain TUN
// device (one packet per read and write) and that the default has the
// virtio-net header and batches, that Stats says which, and that ESP
// flows both ways through a pair with offloads on one side and off on
// the other.
func TestNetnsOffloadSetting(t *testing.T) {
	p := netnstest.NewPair(t, "uso")
	da := startDevice(t, p.A, Config{})
	db := startDevice(t, p.B, Config{NoOffloads: true})
	if s := da.Stats(); !s.Offloads || s.TUNBatch < 2 {
		t.Errorf("default device: offloads %v, TUN batch %d; want on and > 1", s.Offloads, s.TUNBatch)
	}
	if s := db.Stats(); s.Offloads || s.TUNBatch != 1 {
		t.Errorf("NoOffloads device: offloads %v, TUN batch %d; want off and 1", s.Offloads, s.TUNBatch)
	}
	trap(t, da, host(p.B4), kernel.GroupPrivate)
	trap(t, db, host(p.A4), kernel.GroupPrivate)
	pa, pb := testPairs(t, p.A4, p.B4, kernel.ModeTransport, kernel.AESGCM16, true)
	install(t, da, db, pa, pb)
	p.A.Run(t, "ping", "-c", "2", "-i", "0.2", "-W", "2", p.B4.String())
	p.B.Run(t, "ping", "-c", "2", "-i", "0.2", "-W", "2", p.A4.String())
}
