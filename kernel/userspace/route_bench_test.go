package userspace

import (
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// BenchmarkNetnsRouteAddDel: what one SA's route costs, added and deleted
// (a /32 into the TUN device in our table, in an empty namespace), split
// into its parts: "handle" through vishvananda/netlink's Handle (as before
// routesock.go), "sock" one message per sendmsg on our own socket, and
// "batch16" sixteen messages per sendmsg, which leaves mostly the
// kernel's own work (FIB insert and delete, the route notification). The
// differences are the per-call overheads: handle−sock the Go side of the
// Handle (getsockname, deadlines, the 64 KiB receive buffer), sock−batch16
// the syscalls.
//
//	go test -run '^$' -bench NetnsRouteAddDel ./kernel/userspace/
func BenchmarkNetnsRouteAddDel(b *testing.B) {
	d := startDevice(b, netnstest.New(b, "rtb"), Config{})
	r := d.router
	d.routeMu.Lock()
	defer d.routeMu.Unlock()
	host := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 8, byte(i >> 8), byte(i)}), 32)
	}
	b.Run("handle", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			rt := r.route(host(i&1023), kernel.GroupPrivate)
			if err := r.nl.RouteReplace(rt); err != nil {
				b.Fatal(err)
			}
			if err := r.nl.RouteDel(rt); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("sock", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if err := r.setTrap(host(i&1023), kernel.GroupPrivate); err != nil {
				b.Fatal(err)
			}
			if err := r.removeTrap(host(i&1023), kernel.GroupPrivate); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("batch16", func(b *testing.B) {
		b.ReportAllocs()
		const n = 16
		add, del := make([]routeOp, n), make([]routeOp, n)
		errs := make([]error, n)
		for i := 0; b.Loop(); i++ {
			if i%n != 0 {
				continue // one iteration in n does n: ns/op stays per route
			}
			for j := range n {
				add[j] = r.op(host((i+j)&1023), kernel.GroupPrivate, false)
				del[j] = r.op(host((i+j)&1023), kernel.GroupPrivate, true)
			}
			for _, ops := range [][]routeOp{add, del} {
				r.rs.exec(ops, errs)
				for _, err := range errs {
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		}
	})
}

// BenchmarkNetnsSAInstallDelete: one CHILD SA installed and deleted on a
// running device, "routed" with no trap over the peer (its host route
// added and removed: the conn responder of bench/ikeload) and "covered"
// under a private-or-clear trap for 10.0.0.0/8 (an OE host: no route).
//
//	go test -run '^$' -bench NetnsSAInstallDelete ./kernel/userspace/
func BenchmarkNetnsSAInstallDelete(b *testing.B) {
	d := startDevice(b, netnstest.New(b, "sab"), Config{})
	local := netip.MustParseAddr("192.0.2.1")
	for _, c := range []struct {
		name string
		net  byte
	}{{"routed", 172}, {"covered", 10}} {
		if c.net == 10 {
			if err := d.SetTrap(b.Context(), kernel.Trap{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Group: kernel.GroupPrivateOrClear}); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				pa, _ := testPairs(b, local, netip.AddrFrom4([4]byte{c.net, 16, byte(i >> 8), byte(i)}), kernel.ModeTransport, kernel.AESGCM16, false)
				pa.In.SPI, pa.Out.SPI = uint32(0x10000+i&0xffff), uint32(0x20000+i&0xffff)
				if err := d.InstallSA(b.Context(), pa); err != nil {
					b.Fatal(err)
				}
				if err := d.DeleteSA(b.Context(), pa.ID(), kernel.DeleteOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
