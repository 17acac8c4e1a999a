package ike

import (
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// FuzzHandlePacket feeds datagrams to both ends of an established IKE
// SA. Seeds are every datagram of a handshake, a liveness exchange and a
// CHILD SA rekey; with patch set the input gets the live SA's SPIs, so
// mutations reach the SK/SKF and message-ID checks rather than stopping
// at the SPI lookup. Whatever comes in, the engines must not panic and
// the SA must keep working.
func FuzzHandlePacket(f *testing.F) {
	n, a, b := upPair(f, nil)
	sa := a.liveSA(f)
	sa.lock()
	sa.enqueue(&request{exch: wire.Informational, onResponse: func(*wire.Message) {}})
	sa.unlock()
	n.drain()
	for _, p := range n.log {
		f.Add(p.data, false)
		f.Add(p.data, true)
	}
	id := sa.id()
	toB, fromA := n.log[0].to, n.log[0].from
	f.Fuzz(func(t *testing.T, d []byte, patch bool) {
		if patch && len(d) >= 16 {
			d = append([]byte(nil), d...)
			copy(d[0:8], id.SPIi[:])
			copy(d[8:16], id.SPIr[:])
		}
		b.e.HandlePacket(d, toB, fromA)
		a.e.HandlePacket(d, fromA, toB)
		n.drain()
	})
}
