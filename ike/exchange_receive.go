package ike

import (
	"errors"
	"fmt"
	"io"
	"net/netip"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// handlePacket routes a datagram: new IKE_SA_INIT requests to the
// responder, everything else to its SA by our SPI.
func (e *Engine) handlePacket(pkt []byte, local, remote netip.AddrPort) {
	e.stats.add(&e.stats.received)
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed {
		e.drop(DropClosed, remote, nil)
		return
	}
	h, err := wire.ParseHeader(pkt)
	if err != nil {
		e.drop(DropMalformed, remote, err)
		return
	}
	if h.Exchange == wire.IKESAInit && !h.IsResponse() {
		e.mu.Lock()
		closing := e.closing
		e.mu.Unlock()
		if closing {
			e.drop(DropClosed, remote, errors.New("IKE_SA_INIT request while shutting down"))
			return
		}
		if !h.IsInitiator() || !h.SPIr.IsZero() || h.MessageID != 0 {
			e.drop(DropUnexpectedExchange, remote, fmt.Errorf("IKE_SA_INIT request with flags %#x, SPIr %x, message ID %d", h.Flags, h.SPIr[:], h.MessageID))
			return
		}
		e.handleInitRequest(pkt, h, local, remote)
		return
	}
	ours := h.SPIi
	if h.IsInitiator() {
		ours = h.SPIr
	}
	e.mu.Lock()
	sa := e.sas[ours]
	e.mu.Unlock()
	if sa == nil {
		e.drop(DropUnknownSPI, remote, nil, "spi_i", hexSPI(h.SPIi), "spi_r", hexSPI(h.SPIr), "exchange", h.Exchange)
		return
	}
	sa.lock()
	defer sa.unlock()
	sa.receive(pkt, h, local, remote)
}

// receive handles a message for an existing SA. Called with sa.mu held.
func (sa *ikeSA) receive(pkt []byte, h wire.Header, local, remote netip.AddrPort) {
	e := sa.e
	if sa.state == stDead {
		if sa.lastResp != nil && !h.IsResponse() && h.IsInitiator() != sa.initiator && h.MessageID+1 == sa.peerNext {
			sa.receiveRequest(pkt, h, local, remote) // a lingering SA answers its last request again
			return
		}
		e.drop(DropUnknownSPI, remote, errors.New("IKE SA is gone"))
		return
	}
	// The role flag must say the peer plays the other role, and the
	// peer's SPI must be the one we know (once we know it).
	if h.IsInitiator() == sa.initiator {
		e.drop(DropUnknownSPI, remote, fmt.Errorf("initiator flag %v on an SA where we are initiator=%v", h.IsInitiator(), sa.initiator))
		return
	}
	if h.SPIi != sa.spii || (h.SPIr != sa.spir && sa.state != stInitSent) {
		e.drop(DropUnknownSPI, remote, fmt.Errorf("SPIs %x/%x do not match the SA's %x/%x", h.SPIi[:], h.SPIr[:], sa.spii[:], sa.spir[:]))
		return
	}
	if h.IsResponse() {
		sa.receiveResponse(pkt, h, local, remote)
		return
	}
	sa.receiveRequest(pkt, h, local, remote)
}

func (sa *ikeSA) receiveResponse(pkt []byte, h wire.Header, local, remote netip.AddrPort) {
	e := sa.e
	r := sa.pending
	if r == nil || h.MessageID != r.msgID {
		reason := DropUnexpectedResponse
		if h.MessageID < sa.nextID {
			reason = DropOldMessageID
		}
		e.drop(reason, remote, fmt.Errorf("response with message ID %d, outstanding %v", h.MessageID, pendingID(r)))
		return
	}
	if h.Exchange != r.exch {
		e.drop(DropUnexpectedExchange, remote, fmt.Errorf("%v response to a %v request", h.Exchange, r.exch))
		return
	}
	m, err := wire.ParseMessage(pkt)
	if err != nil {
		e.drop(DropMalformed, remote, err)
		return
	}
	if !r.plain {
		m, err = sa.open(m, false)
		if err != nil {
			e.drop(dropReasonFor(err), remote, err)
			return
		}
		if m == nil {
			return // fragment collected
		}
		sa.peerMoved(local, remote)
	}
	sa.lastRecv = e.stampOf(e.cfg.Clock.Now())
	sa.noteTrace(r, m)
	sa.completed(r, len(pkt))
	r.onResponse(m)
	sa.pump()
}

func pendingID(r *request) string {
	if r == nil {
		return "none"
	}
	return fmt.Sprint(r.msgID)
}

func (sa *ikeSA) receiveRequest(pkt []byte, h wire.Header, local, remote netip.AddrPort) {
	e := sa.e
	if sa.state == stInitSent || sa.state == stAuthSent {
		e.drop(DropUnexpectedExchange, remote, fmt.Errorf("%v request before the IKE SA is established", h.Exchange))
		return
	}
	if h.MessageID+1 == sa.peerNext && sa.lastResp != nil {
		// A retransmission: answer it again, once we know it is genuine.
		m, err := wire.ParseMessage(pkt)
		if err != nil {
			e.drop(DropMalformed, remote, err)
			return
		}
		first, err := sa.checkRetransmit(m)
		if err != nil {
			e.drop(dropReasonFor(err), remote, err)
			return
		}
		if first {
			e.stats.add(&e.stats.respResent)
			sa.transmit(sa.lastResp)
		}
		return
	}
	if sa.lookup && h.MessageID == sa.peerNext {
		e.drop(DropBusy, remote, fmt.Errorf("%v request %d: still looking up the peer's key", h.Exchange, h.MessageID))
		return
	}
	if h.MessageID != sa.peerNext {
		e.drop(DropOldMessageID, remote, fmt.Errorf("request with message ID %d, expected %d", h.MessageID, sa.peerNext))
		return
	}
	m, err := wire.ParseMessage(pkt)
	if err != nil {
		var uc *wire.UnsupportedCriticalPayloadError
		if errors.As(err, &uc) && m != nil {
			// Only an authenticated message may be answered, and the
			// critical payload sits outside SK: drop it.
			err = fmt.Errorf("critical payload outside SK: %w", err)
		}
		e.drop(DropMalformed, remote, err)
		return
	}
	m, err = sa.open(m, true)
	if err != nil {
		var uc *wire.UnsupportedCriticalPayloadError
		if errors.As(err, &uc) {
			sa.respond(&wire.Message{Header: h}, []wire.Payload{uc.Notify()})
		}
		e.drop(dropReasonFor(err), remote, err)
		return
	}
	if m == nil {
		return // fragment collected
	}
	sa.peerMoved(local, remote)
	sa.lastRecv = e.stampOf(e.cfg.Clock.Now())
	sa.noteActive()
	switch {
	case h.Exchange == wire.IKEAuth && sa.state == stHalfOpen:
		sa.handleAuthRequest(m)
	case h.Exchange == wire.IKEIntermediate && sa.state == stHalfOpen:
		sa.handleIntermediateRequest(m)
	case h.Exchange == wire.CreateChildSA && sa.state == stEstablished:
		sa.handleCreateChild(m)
	case h.Exchange == wire.IKEFollowupKE && sa.state != stHalfOpen:
		sa.handleFollowupRequest(m)
	case h.Exchange == wire.Informational && sa.state != stHalfOpen:
		sa.handleInformational(m)
	case h.Exchange == wire.CreateChildSA && (sa.state == stRekeyed || sa.state == stDeleting):
		// RFC 7296 §2.25: rekeying an SA we are closing.
		sa.respond(m, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyTemporaryFailure}})
	default:
		e.drop(DropUnexpectedExchange, remote, fmt.Errorf("%v request in state %v", h.Exchange, sa.state))
	}
}

// open checks and decrypts a protected message. For SKF fragments it
// returns nil until the message is complete.
func (sa *ikeSA) open(m *wire.Message, request bool) (*wire.Message, error) {
	if len(m.Payloads) == 0 {
		return nil, fmt.Errorf("ike: %v: %w", m.Exchange, errNotProtected)
	}
	switch m.Payloads[len(m.Payloads)-1].(type) {
	case *wire.Encrypted:
		if len(m.Payloads) != 1 {
			return nil, fmt.Errorf("ike: %v: %d payloads outside SK: %w", m.Exchange, len(m.Payloads)-1, errNotProtected)
		}
		if err := m.Decrypt(sa.cin); err != nil {
			return nil, err
		}
		return m, nil
	case *wire.EncryptedFragment:
		// Requests and responses have their own message ID spaces, so
		// each direction reassembles apart.
		dir := 0
		if request {
			dir = 1
		}
		if sa.reasm == nil {
			sa.reasm = new([2]*wire.Reassembler)
		}
		r := sa.reasm[dir]
		if r == nil || r.Other(m.MessageID) {
			r = &wire.Reassembler{}
			sa.reasm[dir] = r
		}
		out, err := r.Add(m, sa.cin)
		if err != nil {
			return nil, err
		}
		if sa.init != nil && sa.init.trace != nil {
			sa.init.trace.FragmentsReceived++
		}
		if out != nil {
			sa.reasm[dir] = nil
			if sa.reasm[1-dir] == nil {
				sa.reasm = nil
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("ike: %v: %w", m.Exchange, errNotProtected)
}

var errNotProtected = errors.New("message is not protected by SK")

// checkRetransmit verifies a retransmitted request before we answer it
// again; it reports whether this datagram should trigger the resend (for
// fragmented requests only fragment 1 does).
func (sa *ikeSA) checkRetransmit(m *wire.Message) (bool, error) {
	if len(m.Payloads) == 0 {
		return false, errNotProtected
	}
	cin := sa.cin
	if sa.handshake != nil && sa.retransmitCin != nil {
		cin = sa.retransmitCin
	}
	switch p := m.Payloads[len(m.Payloads)-1].(type) {
	case *wire.Encrypted:
		return true, m.Decrypt(cin)
	case *wire.EncryptedFragment:
		if _, err := p.Open(cin); err != nil {
			return false, err
		}
		return p.Number == 1, nil
	}
	return false, errNotProtected
}

func dropReasonFor(err error) DropReason {
	switch {
	case errors.Is(err, ErrIntegrity):
		return DropIntegrity
	case errors.Is(err, errNotProtected):
		return DropInvalid
	}
	return DropMalformed
}

// peerMoved follows the peer to a new address or port once an
// authenticated message arrived there: strongSwan moves to 4500 after
// IKE_SA_INIT even without a NAT, and NATs rebind.
func (sa *ikeSA) peerMoved(local, remote netip.AddrPort) {
	if remote == sa.remote && (local == sa.local || !local.IsValid()) {
		return
	}
	sa.e.log.Debug("ike: peer moved", "from", sa.remote, "to", remote, "local", local)
	sa.remote = remote
	if local.IsValid() {
		sa.local = local
	}
	if remote.Port() == sa.e.cfg.NATTPort || local.Port() == sa.e.cfg.NATTPort {
		sa.natt = true
	}
}

// noteTrace records a response's notifies and vendor IDs.
func (sa *ikeSA) noteTrace(r *request, m *wire.Message) {
	var t *Trace
	if sa.init != nil {
		t = sa.init.trace
	}
	for _, p := range m.Payloads {
		switch q := p.(type) {
		case *wire.Notify:
			if r.trace != nil {
				r.trace.Notifies = append(r.trace.Notifies, q.NotifyType)
			}
			if t != nil {
				t.Notifies = append(t.Notifies, q.NotifyType)
			}
		case *wire.VendorID:
			if t != nil {
				t.VendorIDs = append(t.VendorIDs, q.Data)
			}
		}
	}
}

// randomBytes reads n octets from the engine's random source.
func (e *Engine) randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(e.cfg.Rand, b); err != nil {
		return nil, fmt.Errorf("ike: random: %w", err)
	}
	return b, nil
}

// newSPI returns a fresh IKE SPI not in use. Called without e.mu.
func (e *Engine) newSPI() (SPI, error) {
	for {
		var s SPI
		if _, err := io.ReadFull(e.cfg.Rand, s[:]); err != nil {
			return s, fmt.Errorf("ike: random SPI: %w", err)
		}
		e.mu.Lock()
		_, used := e.sas[s]
		e.mu.Unlock()
		if !used && !s.IsZero() {
			return s, nil
		}
	}
}
