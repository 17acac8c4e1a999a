package userspace

import (
	"fmt"
	"testing"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestNetnsMatrix pings both ways between two userspace hosts for every
// combination of family, mode and encapsulation.
func TestNetnsMatrix(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, mode := range []kernel.Mode{kernel.ModeTransport, kernel.ModeTunnel} {
			for _, encap := range []bool{false, true} {
				t.Run(fmt.Sprintf("v6=%v/%s/encap=%v", v6, mode, encap), func(t *testing.T) {
					p := netnstest.NewPair(t, "usm")
					a, b := p.A4, p.B4
					ping := []string{"-c", "2", "-i", "0.2", "-W", "2"}
					if v6 {
						a, b = p.A6, p.B6
						ping = append(ping, "-6")
					}
					da, db := startDevice(t, p.A, Config{}), startDevice(t, p.B, Config{})
					trap(t, da, host(b), kernel.GroupPrivate)
					trap(t, db, host(a), kernel.GroupPrivate)
					pa, pb := testPairs(t, a, b, mode, kernel.ChaCha20Poly1305, true)
					if encap {
						pa.Encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
						pb.Encap = pa.Encap
					}
					install(t, da, db, pa, pb)
					p.A.Run(t, "ping", append(ping, b.String())...)
					p.B.Run(t, "ping", append(ping, a.String())...)
				})
			}
		}
	}
}
