package udpmux

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

// releaseSink gives every buffer back at once, as a data plane that has
// decrypted the batch does, and signals reached once it has taken target
// packets.
type releaseSink struct {
	n, target atomic.Uint64
	reached   chan struct{}
}

func (s *releaseSink) DeliverEncap(pkts []kernel.EncapPacket, release func([]byte)) {
	for i := range pkts {
		release(pkts[i].Buf)
	}
	if n := s.n.Add(uint64(len(pkts))); s.reached != nil && n >= s.target.Load() {
		select {
		case s.reached <- struct{}{}:
		default:
		}
	}
}

// BenchmarkDemuxESPBatch is the demultiplexer on a full batch of ESP: in
// steady state it allocates nothing (the sink's buffers come back to the
// pool and go out again).
func BenchmarkDemuxESPBatch(b *testing.B) {
	r := testReader(b, true, nil, ignoreIKE)
	r.sink = &releaseSink{}
	pkt := espPacket(1, 1400)
	n := len(r.b.hdrs)
	b.SetBytes(int64(n * len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		for i := range n {
			r.fill(i, pkt) // as recvmmsg would
		}
		r.dispatch(n)
	}
}

// BenchmarkReceiveESP is the whole receive path over loopback: a peer
// sends ESP-in-UDP to the NAT-T socket, the mux reads it in batches and
// hands it to a sink that releases it. allocs/op counts the sender too.
func BenchmarkReceiveESP(b *testing.B) {
	sink := &releaseSink{reached: make(chan struct{}, 1)}
	m, err := Listen(context.Background(), Config{Addrs: []netip.Addr{loop4}})
	if err != nil {
		b.Fatal(err)
	}
	m.SetESPSink(sink)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ignoreIKE) }()
	defer func() { cancel(); <-done }()
	_, natt := m.LocalAddrs()
	peer, _ := peerSocket(b)
	pkt := espPacket(1, 1400)
	const burst = 16
	b.SetBytes(int64(burst * len(pkt)))
	b.ReportAllocs()
	sent := uint64(0)
	for b.Loop() {
		for range burst {
			if _, err := peer.WriteToUDPAddrPort(pkt, natt[0]); err != nil {
				b.Fatal(err)
			}
		}
		sent += burst
		sink.target.Store(sent)
		for sink.n.Load() < sent {
			<-sink.reached
		}
	}
	if st := m.Stats(); st.ESPIn != sent {
		b.Fatalf("stats %+v, want %d ESP in", st, sent)
	}
}
