package udpmux

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestUDPSendESPBatch sends a train through the NAT-T socket, in runs of
// equal-sized packets, and checks that the peer receives every packet as
// a datagram of its own, in order, whether GSO is on or off.
func TestUDPSendESPBatch(t *testing.T) {
	for _, noGSO := range []bool{false, true} {
		t.Run(fmt.Sprintf("noGSO=%v", noGSO), func(t *testing.T) {
			a := serve(t, Config{Addrs: []netip.Addr{loop4}, NoGSO: noGSO}, newCollector().handle)
			_, aNATT := a.LocalAddrs()
			if got, want := a.Stats().GSO, 1; noGSO && got != 0 || !noGSO && got != want {
				t.Logf("GSO sockets: %d (kernel without UDP_SEGMENT?)", got)
				if noGSO {
					t.Fatalf("NoGSO: %d sockets with GSO", got)
				}
			}
			peer, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loop4, 0)))
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			// Room for the whole train: it arrives faster than we read.
			if rc, err := peer.SyscallConn(); err == nil {
				_ = rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) })
			}
			peerAddr := peer.LocalAddr().(*net.UDPAddr).AddrPort()
			var train [][]byte
			for i := range 150 {
				n := 1200
				if i == 70 || i == 149 {
					n = 300 // ends a run
				}
				p := bytes.Repeat([]byte{byte(i)}, n)
				p[0], p[1], p[2], p[3] = 0, 0, 1, byte(i) // SPI ≠ 0
				train = append(train, p)
			}
			n, err := a.SendESPBatch(train, aNATT[0], peerAddr)
			if err != nil || n != len(train) {
				t.Fatalf("SendESPBatch: %d sent, %v", n, err)
			}
			buf := make([]byte, 65536)
			for i, want := range train {
				peer.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, from, err := peer.ReadFromUDPAddrPort(buf)
				if err != nil {
					t.Fatalf("datagram %d: %v", i, err)
				}
				if !bytes.Equal(buf[:n], want) || from != aNATT[0] {
					t.Fatalf("datagram %d: %d octets starting %x from %v, want %d starting %x from %v", i, n, buf[:min(n, 8)], from, len(want), want[:8], aNATT[0])
				}
			}
			if st := a.Stats(); st.Sent != uint64(len(train)) || st.SendErrors != 0 {
				t.Errorf("stats %+v, want %d sent and no errors", st, len(train))
			}
			bad := [][]byte{train[0], {0, 0, 0, 0, 1, 2, 3, 4}}
			if n, err := a.SendESPBatch(bad, aNATT[0], peerAddr); err == nil || n != 0 {
				t.Errorf("a train with a zero SPI: %d sent, %v", n, err)
			}
		})
	}
}

// TestUDPGROSplitsRuns sends GSO trains from one mux to another whose
// NAT-T socket reads with UDP_GRO: the kernel hands the receiver whole
// runs (on loopback a GSO send arrives uncut), and its sink must still
// get every ESP packet on its own, intact and in order, including the
// ones that straddle the end of a pooled buffer.
func TestUDPGROSplitsRuns(t *testing.T) {
	sink := newCopySink()
	b := serveSink(t, Config{Addrs: []netip.Addr{loop4}, GRO: true}, sink, newCollector().handle)
	if b.Stats().GRO != 1 {
		t.Skip("the kernel has no UDP_GRO")
	}
	_, bNATT := b.LocalAddrs()
	a := serve(t, Config{Addrs: []netip.Addr{loop4}}, newCollector().handle)
	_, aNATT := a.LocalAddrs()
	if a.Stats().GSO != 1 {
		t.Skip("the kernel has no UDP GSO")
	}
	var want [][]byte
	for k, size := range []int{1200, 1400, 100} {
		var train [][]byte
		for i := range 40 {
			n := size
			if i == 39 {
				n = size / 2 // a shorter last one
			}
			p := bytes.Repeat([]byte{byte(i), byte(k)}, n/2)
			p[0], p[1], p[2], p[3] = 0, 1, byte(k), byte(i) // SPI ≠ 0
			train = append(train, p)
		}
		if n, err := a.SendESPBatch(train, aNATT[0], bNATT[0]); err != nil || n != len(train) {
			t.Fatalf("SendESPBatch: %d sent, %v", n, err)
		}
		want = append(want, train...)
	}
	sink.wait(t, len(want))
	got := sink.packets()
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("packet %d: %d octets starting %x, want %d starting %x", i, len(got[i]), got[i][:min(8, len(got[i]))], len(want[i]), want[i][:8])
		}
	}
	if st := b.Stats(); st.GRORuns == 0 || st.ESPIn != uint64(len(want)) || st.Overrun != 0 {
		t.Errorf("receiver stats %+v: want coalesced runs and %d ESP in", st, len(want))
	}
}
