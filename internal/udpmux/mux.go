package udpmux

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/oemesh/oemesh/kernel"
)

// Handler receives one IKE message (without the non-ESP marker) with the
// local address it arrived at and the peer's address. The slice is the
// handler's to keep. ike.Engine.HandlePacket is one.
type Handler func(pkt []byte, local, remote netip.AddrPort)

// Stats counts what the Mux saw. Every dropped datagram is counted
// somewhere here.
type Stats struct {
	IKEIn        uint64 // IKE messages handed to the handler
	ESPIn        uint64 // ESP-in-UDP packets handed to the ESP sink
	ESPDropped   uint64 // ESP-in-UDP with no sink, or too long for a buffer
	KeepalivesIn uint64 // NAT keepalives (one 0xFF octet), ignored
	Invalid      uint64 // datagrams too short to be IKE or ESP
	Overrun      uint64 // long datagrams whose overflow a later one in the same batch overwrote
	Reads        uint64 // batch reads that returned datagrams
	Sent         uint64
	SendErrors   uint64
	// GSO counts the NAT-T sockets that send ESP-in-UDP trains with UDP
	// GSO now (SendESPBatch); GRO those read with UDP_GRO (Config.GRO),
	// and GRORuns the coalesced runs they read and cut up.
	GSO, GRO int
	GRORuns  uint64
	// BuffersAllocated counts receive buffers ever allocated: it stops
	// growing once the sink gives buffers back as fast as it takes them.
	BuffersAllocated uint64
}

// counters are Stats as they are updated.
type counters struct {
	ikeIn, espIn, espDropped, keepalives, invalid, overrun, reads, sent, sendErrs, groRuns atomic.Uint64
}

// Mux is the IKE daemon's UDP sockets and their demultiplexer. Create it
// with Listen, give it the data plane's ESP sink with SetESPSink, then
// Serve. Its Send methods may be used from any goroutine as soon as
// Listen returns.
type Mux struct {
	cfg   Config
	log   *slog.Logger
	socks []*socket
	pool  *pool
	ctr   counters
	// release is pool.put, made once: a method value made per batch
	// would allocate.
	release func([]byte)

	mu      sync.Mutex
	sink    kernel.EncapSink
	serving bool

	closeOnce sync.Once
}

// Listen opens the sockets of cfg in the calling thread's network
// namespace. The caller starts reading with Serve and stops with Close (or
// by cancelling Serve's context).
func Listen(ctx context.Context, cfg Config) (*Mux, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Mux{cfg: cfg, log: cfg.Logger, pool: newPool(cfg.PoolSize)}
	m.release = m.pool.put
	for _, a := range cfg.Addrs {
		a = a.Unmap()
		s, err := m.open(ctx, a, cfg.Port, false)
		if err != nil {
			m.Close()
			return nil, err
		}
		m.socks = append(m.socks, s)
		if cfg.NATTPort >= 0 {
			s, err := m.open(ctx, a, cfg.NATTPort, true)
			if err != nil {
				m.Close()
				return nil, err
			}
			m.socks = append(m.socks, s)
		}
	}
	return m, nil
}

// SetESPSink gives the Mux the data plane that takes ESP-in-UDP arriving
// on the NAT-T port. It must be called before Serve: the daemon opens the
// Mux, builds the data plane with SendESP as its sender, then joins the
// two here. Without a sink ESP-in-UDP is counted and dropped.
func (m *Mux) SetESPSink(s kernel.EncapSink) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.serving {
		return errors.New("udpmux: SetESPSink after Serve started")
	}
	m.sink = s
	return nil
}

// LocalAddrs returns the bound IKE-port and NAT-T-port addresses, in the
// order of Config.Addrs.
func (m *Mux) LocalAddrs() (ike, natt []netip.AddrPort) {
	for _, s := range m.socks {
		if s.natt {
			natt = append(natt, s.addr)
		} else {
			ike = append(ike, s.addr)
		}
	}
	return ike, natt
}

// Stats returns the counters.
func (m *Mux) Stats() Stats {
	c := &m.ctr
	st := Stats{
		IKEIn: c.ikeIn.Load(), ESPIn: c.espIn.Load(), ESPDropped: c.espDropped.Load(),
		KeepalivesIn: c.keepalives.Load(), Invalid: c.invalid.Load(), Overrun: c.overrun.Load(),
		Reads: c.reads.Load(), Sent: c.sent.Load(), SendErrors: c.sendErrs.Load(),
		BuffersAllocated: m.pool.allocated.Load(), GRORuns: c.groRuns.Load(),
	}
	for _, s := range m.socks {
		if s.gso.Load() {
			st.GSO++
		}
		if s.gro {
			st.GRO++
		}
	}
	return st
}

// Serve reads from every socket until ctx is cancelled or Close is
// called, handing IKE messages to h and ESP-in-UDP to the sink, from one
// goroutine per socket (so both must be safe for concurrent use). It
// closes the sockets before it returns, and returns nil when stopped, or
// the first read error that is not a close. Serve runs once.
func (m *Mux) Serve(ctx context.Context, h Handler) error {
	m.mu.Lock()
	if m.serving {
		m.mu.Unlock()
		return errors.New("udpmux: Serve called twice")
	}
	m.serving = true
	sink := m.sink
	m.mu.Unlock()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(m.socks))
	var wg sync.WaitGroup
	for _, s := range m.socks {
		r, err := m.newReader(s, h, sink)
		if err != nil {
			errc <- err
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errc <- r.loop()
		}()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	m.Close()
	wg.Wait()
	if errors.Is(first, net.ErrClosed) {
		first = nil
	}
	return first
}

// Close closes the sockets; a running Serve returns.
func (m *Mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		for _, s := range m.socks {
			if cerr := s.conn.Close(); cerr != nil && err == nil {
				err = fmt.Errorf("udpmux: close %s: %w", s.addr, cerr)
			}
		}
	})
	return err
}
