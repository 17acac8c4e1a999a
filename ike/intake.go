package ike

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// Intake stands between the socket reader and the engine, so that the
// reader never waits on handshake work: its Handle only sorts a datagram
// into one of two queues, and workers empty them into HandlePacket.
//
//   - the bulk queue holds IKE_SA_INIT requests without a cookie: what a
//     flood sends, and the first request of every legitimate initiator.
//     When it is full a request is dropped at once (DropOverloaded): the
//     initiator retransmits, the flood does not matter.
//   - the priority queue holds everything else: requests with a cookie
//     (which prove their source address), IKE_AUTH and the exchanges of
//     established SAs. Workers always take from it first, so a
//     legitimate handshake, once it has its cookie, never queues behind
//     a flood.
//
// The reader thus drains the socket as fast as it can read, and the
// kernel drops less at a full socket buffer, where it cannot tell a
// legitimate datagram from a flood's.
type Intake struct {
	e          *Engine
	prio, bulk chan intakePacket
	wg         sync.WaitGroup
	closeOnce  sync.Once
}

type intakePacket struct {
	pkt           []byte
	local, remote netip.AddrPort
}

// IntakeConfig sizes an Intake; zero fields take the defaults named on
// each.
type IntakeConfig struct {
	// Workers is how many goroutines hand datagrams to the engine
	// (default 2).
	Workers int
	// Bulk is how many cookieless IKE_SA_INIT requests may wait (default
	// 256: a few milliseconds of work; a deeper queue only makes a
	// legitimate initiator's first request wait longer under a flood).
	// Priority is how many other datagrams may wait (default 4096).
	Bulk, Priority int
}

// NewIntake starts an Intake's workers; Close stops them.
func (e *Engine) NewIntake(cfg IntakeConfig) *Intake {
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.Bulk <= 0 {
		cfg.Bulk = 256
	}
	if cfg.Priority <= 0 {
		cfg.Priority = 4096
	}
	in := &Intake{e: e, prio: make(chan intakePacket, cfg.Priority), bulk: make(chan intakePacket, cfg.Bulk)}
	for range cfg.Workers {
		in.wg.Add(1)
		go in.work()
	}
	return in
}

// Handle queues one received IKE message, which the Intake keeps (the
// signature of Engine.HandlePacket and udpmux.Handler). It does not
// block.
func (in *Intake) Handle(pkt []byte, local, remote netip.AddrPort) {
	q := in.prio
	if cookielessInit(pkt) {
		q = in.bulk
	}
	select {
	case q <- intakePacket{pkt, local, remote}:
	default:
		in.e.stats.add(&in.e.stats.received)
		in.e.drop(DropOverloaded, remote, errors.New("work queue full"))
	}
}

// cookielessInit reports whether pkt is an IKE_SA_INIT request without a
// COOKIE notify (one that does not parse counts as one: the engine will
// drop it).
func cookielessInit(pkt []byte) bool {
	h, err := wire.ParseHeader(pkt)
	if err != nil || h.Exchange != wire.IKESAInit || h.IsResponse() {
		return false
	}
	s, err := wire.ScanInit(pkt)
	return err != nil || s.Cookie == nil
}

func (in *Intake) work() {
	defer in.wg.Done()
	for {
		// The priority queue first, always.
		select {
		case p, ok := <-in.prio:
			if !ok {
				return
			}
			in.e.HandlePacket(p.pkt, p.local, p.remote)
			continue
		default:
		}
		select {
		case p, ok := <-in.prio:
			if !ok {
				return
			}
			in.e.HandlePacket(p.pkt, p.local, p.remote)
		case p, ok := <-in.bulk:
			if !ok {
				return
			}
			in.e.HandlePacket(p.pkt, p.local, p.remote)
		}
	}
}

// Close stops the workers once the datagrams queued are handled; Handle
// must not be called after it.
func (in *Intake) Close() {
	in.closeOnce.Do(func() {
		close(in.prio)
		close(in.bulk)
	})
	in.wg.Wait()
}
