package udpmux

import (
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

// copySink is an ESP sink that copies each packet and gives its buffer
// back at once, recording the size of every batch.
type copySink struct {
	mu      sync.Mutex
	pkts    [][]byte
	batches []int
	got     chan struct{}
}

func newCopySink() *copySink { return &copySink{got: make(chan struct{}, 1024)} }

func (s *copySink) DeliverEncap(pkts []kernel.EncapPacket, release func([]byte)) {
	s.mu.Lock()
	s.batches = append(s.batches, len(pkts))
	for i := range pkts {
		s.pkts = append(s.pkts, append([]byte(nil), pkts[i].Packet()...))
		release(pkts[i].Buf)
	}
	s.mu.Unlock()
	for range pkts {
		s.got <- struct{}{}
	}
}

func (s *copySink) packets() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.pkts...)
}

func (s *copySink) batchSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.batches...)
}

// wait waits for n packets.
func (s *copySink) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("the sink got %d packets within 5 s, want %d", len(s.packets()), n)
		}
	}
}

// holdSink is an ESP sink that keeps every packet's buffer until
// releaseAll, as a data plane does while it decrypts.
type holdSink struct {
	mu      sync.Mutex
	held    []kernel.EncapPacket
	release func([]byte)
	got     chan struct{}
}

func newHoldSink() *holdSink { return &holdSink{got: make(chan struct{}, 1024)} }

func (s *holdSink) DeliverEncap(pkts []kernel.EncapPacket, release func([]byte)) {
	s.mu.Lock()
	s.held = append(s.held, pkts...)
	s.release = release
	s.mu.Unlock()
	for range pkts {
		s.got <- struct{}{}
	}
}

func (s *holdSink) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-s.got:
		case <-time.After(5 * time.Second):
			t.Fatalf("the sink got fewer than %d packets within 5 s", n)
		}
	}
}

func (s *holdSink) packets() []kernel.EncapPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]kernel.EncapPacket(nil), s.held...)
}

func (s *holdSink) releaseAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.held {
		s.release(p.Buf)
	}
	s.held = nil
}
