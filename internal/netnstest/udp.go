package netnstest

import (
	"net"
	"sync/atomic"
	"testing"
)

// Sink counts the UDP datagrams that reach an address inside a
// namespace: what a peer received in the clear.
type Sink struct {
	n atomic.Int64
}

// Count is how many datagrams have arrived so far.
func (s *Sink) Count() int64 { return s.n.Load() }

// UDPSink listens on addr ("198.51.100.2:9", ":9") inside ns with network
// "udp", "udp4" or "udp6", and counts what arrives until the test ends.
func (ns *NS) UDPSink(t testing.TB, network, addr string) *Sink {
	t.Helper()
	ln := ns.UDPConn(t, network, addr)
	s := &Sink{}
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := ln.ReadFrom(buf); err != nil {
				return // closed by the cleanup
			}
			s.n.Add(1)
		}
	}()
	return s
}

// UDPConn opens a UDP socket on addr (":0" for any) inside ns, closed
// when the test ends.
func (ns *NS) UDPConn(t testing.TB, network, addr string) net.PacketConn {
	t.Helper()
	var c net.PacketConn
	if err := ns.Do(func() (err error) { c, err = net.ListenPacket(network, addr); return }); err != nil {
		t.Fatalf("netnstest: %s socket on %s in %s: %v", network, addr, ns.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Reset starts the count again from zero.
func (s *Sink) Reset() { s.n.Store(0) }
