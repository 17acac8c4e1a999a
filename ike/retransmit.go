package ike

import (
	"fmt"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
	"github.com/oemesh/oemesh/internal/clock"
)

// request is one request we send and retransmit until its response
// arrives or the give-up time passes. The window is 1: one request is
// outstanding per IKE SA, others wait in sa.queue.
type request struct {
	exch     wire.ExchangeType
	payloads []wire.Payload
	plain    bool // IKE_SA_INIT: sent as built, unprotected, with ID 0
	msgID    uint32
	pkts     [][]byte
	tries    int
	start    time.Time
	deadline time.Time
	timer    clock.Timer
	trace    *ExchangeTrace
	// giveUp, when set, bounds this request instead of the engine's
	// GiveUp (liveness probes and the Deletes of abandoned SAs).
	giveUp time.Duration

	// onResponse handles the (decrypted) response, with sa.mu held.
	onResponse func(m *wire.Message)
	// onFail is told when the request will never be answered (give-up,
	// SA deleted, engine closed), with sa.mu held. May be nil.
	onFail func(err error)
}

// lock and unlock guard an SA. unlock runs the hooks and other actions
// queued with post once the lock is released, so that callbacks into the
// user never run under engine locks.
func (sa *ikeSA) lock() { sa.mu.Lock() }

func (sa *ikeSA) unlock() {
	ev := sa.events
	sa.events = nil
	sa.mu.Unlock()
	for _, f := range ev {
		f()
	}
}

// post queues f to run after sa.mu is released.
func (sa *ikeSA) post(f func()) { sa.events = append(sa.events, f) }

// enqueue adds a request and sends it when the window allows.
func (sa *ikeSA) enqueue(r *request) {
	sa.queue = append(sa.queue, r)
	sa.pump()
}

// pump sends the next queued request if none is outstanding.
func (sa *ikeSA) pump() {
	for sa.pending == nil && len(sa.queue) > 0 && sa.state != stDead {
		r := sa.queue[0]
		// Let go of r here: an emptied queue keeps its backing array,
		// which would hold the last request (its packets, timer and
		// callbacks) for the SA's whole life.
		sa.queue[0] = nil
		sa.queue = sa.queue[1:]
		if len(sa.queue) == 0 {
			sa.queue = nil
		}
		if err := sa.sendRequest(r); err != nil {
			sa.e.log.Warn("ike: cannot send request", "exchange", r.exch, "remote", sa.remote, "err", err)
			if r.onFail != nil {
				r.onFail(err)
			}
		}
	}
}

// sendRequest assigns r its message ID, protects it, sends it and arms
// the retransmission timer.
func (sa *ikeSA) sendRequest(r *request) error {
	now := sa.e.cfg.Clock.Now()
	if !r.plain {
		r.msgID = sa.nextID
		h := wire.Header{SPIi: sa.spii, SPIr: sa.spir, Exchange: r.exch, MessageID: r.msgID}
		if sa.initiator {
			h.Flags |= wire.FlagInitiator
		}
		pkts, err := sa.protect(h, r.payloads)
		if err != nil {
			return fmt.Errorf("ike: %v request: %w", r.exch, err)
		}
		r.pkts = pkts
		sa.nextID++
	}
	giveUp := sa.e.cfg.GiveUp
	if r.giveUp > 0 {
		giveUp = r.giveUp
	}
	r.start, r.deadline, r.tries = now, now.Add(giveUp), 0
	if r.trace != nil {
		r.trace.Exchange, r.trace.MessageID, r.trace.Start = r.exch, r.msgID, now
		for _, p := range r.pkts {
			r.trace.SentBytes += len(p)
		}
		if len(r.pkts) > 1 {
			r.trace.Fragments = len(r.pkts)
		}
	}
	sa.pending = r
	sa.transmit(r.pkts)
	sa.armRetransmit(r)
	return nil
}

// protect encrypts a message for sending, as SKF fragments when the peer
// supports them and it is larger than the threshold.
func (sa *ikeSA) protect(h wire.Header, payloads []wire.Payload) ([][]byte, error) {
	m := &wire.Message{Header: h, Payloads: payloads}
	var pkts [][]byte
	if sa.peerFrag {
		max := sa.e.cfg.FragmentThreshold
		var err error
		pkts, err = m.MarshalFragments(sa.cout, max)
		if err != nil {
			return nil, err
		}
		if len(pkts) > 1 && sa.init != nil && sa.init.trace != nil {
			sa.init.trace.FragmentsSent += len(pkts)
		}
	} else {
		pkt, err := m.MarshalEncrypted(sa.cout)
		if err != nil {
			return nil, err
		}
		pkts = [][]byte{pkt}
	}
	if h.Exchange == wire.IKEIntermediate {
		if err := sa.foldIntAuth(m); err != nil {
			return nil, err
		}
	}
	return pkts, nil
}

// transmit sends datagrams to the peer.
func (sa *ikeSA) transmit(pkts [][]byte) {
	for _, p := range pkts {
		if err := sa.e.cfg.Sender.Send(p, sa.local, sa.remote); err != nil {
			sa.e.log.Debug("ike: send failed", "remote", sa.remote, "err", err)
			continue
		}
		sa.e.stats.add(&sa.e.stats.sent)
	}
}

// retransmitDelay is the timeout after the given number of tries:
// base·2^tries, at most RetransmitMax.
func (e *Engine) retransmitDelay(tries int) time.Duration {
	d := e.cfg.RetransmitBase
	for i := 0; i < tries && d < e.cfg.RetransmitMax; i++ {
		d *= 2
	}
	return min(d, e.cfg.RetransmitMax)
}

func (sa *ikeSA) armRetransmit(r *request) {
	d := sa.e.retransmitDelay(r.tries)
	if left := r.deadline.Sub(sa.e.cfg.Clock.Now()); left < d {
		d = max(left, 0)
	}
	r.timer = sa.e.cfg.Clock.AfterFunc(d, func() { sa.retransmit(r) })
}

// retransmit runs when r's timer fires: resend, or give up.
func (sa *ikeSA) retransmit(r *request) {
	sa.lock()
	defer sa.unlock()
	if sa.pending != r || sa.state == stDead {
		return
	}
	if !sa.e.cfg.Clock.Now().Before(r.deadline) {
		sa.e.log.Debug("ike: giving up", "exchange", r.exch, "message_id", r.msgID, "tries", r.tries+1, "remote", sa.remote)
		sa.pending = nil
		err := fmt.Errorf("%w: %v request (message ID %d) sent %d times to %v", ErrTimeout, r.exch, r.msgID, r.tries+1, sa.remote)
		if r.trace != nil {
			r.trace.Retransmits = r.tries
			r.trace.Duration = sa.e.cfg.Clock.Now().Sub(r.start)
			r.trace.Error = err.Error()
			sa.recordExchange(r)
		}
		if r.onFail != nil {
			r.onFail(err)
		}
		if sa.state == stAuthSent {
			// The peer may have installed our first CHILD SA and lost
			// only its answer: tell it, best effort, as an abandoning
			// initiator does.
			sa.sendDelete()
		}
		// A peer that does not answer is dead: RFC 7296 §2.4.
		sa.die(err, false)
		return
	}
	r.tries++
	sa.e.stats.add(&sa.e.stats.retransmits)
	sa.transmit(r.pkts)
	sa.armRetransmit(r)
}

// completed stops r's timer and frees the window.
func (sa *ikeSA) completed(r *request, recvBytes int) {
	if r.timer != nil {
		r.timer.Stop()
	}
	if r.trace != nil {
		r.trace.Retransmits = r.tries
		r.trace.Duration = sa.e.cfg.Clock.Now().Sub(r.start)
		r.trace.RecvBytes += recvBytes
		sa.recordExchange(r)
	}
	sa.pending = nil
}

// respond sends the response to the peer's request req and caches it for
// retransmissions of that request.
func (sa *ikeSA) respond(req *wire.Message, payloads []wire.Payload) {
	h := wire.Header{SPIi: sa.spii, SPIr: sa.spir, Exchange: req.Exchange, MessageID: req.MessageID, Flags: wire.FlagResponse}
	if sa.initiator {
		h.Flags |= wire.FlagInitiator
	}
	pkts, err := sa.protect(h, payloads)
	if err != nil {
		sa.e.log.Warn("ike: cannot build response", "exchange", req.Exchange, "remote", sa.remote, "err", err)
		return
	}
	sa.peerNext = req.MessageID + 1
	sa.lastResp = pkts
	sa.transmit(pkts)
}

// recordExchange adds a finished exchange to the initiation's trace.
func (sa *ikeSA) recordExchange(r *request) {
	if sa.init != nil && sa.init.trace != nil && r.trace != nil {
		sa.init.trace.Exchanges = append(sa.init.trace.Exchanges, *r.trace)
	}
}
