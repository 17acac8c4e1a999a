package ike

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// livenessRound sends one empty INFORMATIONAL from p and waits for the
// answer, proving the SA still works.
func livenessRound(t *testing.T, n *memNet, p *testPeer) {
	t.Helper()
	sa := p.liveSA(t)
	done := make(chan error, 1)
	sa.lock()
	sa.enqueue(&request{exch: wire.Informational, onResponse: func(*wire.Message) { done <- nil }, onFail: func(err error) { done <- err }})
	sa.unlock()
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestHostileInput(t *testing.T) {
	n, a, b := upPair(t, nil)
	livenessRound(t, n, a) // a request from A to B we can replay
	var req, resp memPacket
	for _, p := range n.log {
		h, _ := wire.ParseHeader(p.data)
		if h.Exchange == wire.Informational {
			if h.IsResponse() {
				resp = p
			} else {
				req = p
			}
		}
	}
	if req.data == nil || resp.data == nil {
		t.Fatal("no INFORMATIONAL exchange captured")
	}
	from, to := req.from, req.to
	send := func(d []byte) { b.e.HandlePacket(d, to, from) }
	drops := func(r DropReason) uint64 { return b.e.Stats().Drops[r] }

	t.Run("bad lengths", func(t *testing.T) {
		before := drops(DropMalformed)
		send(nil)
		send(req.data[:27])
		send(req.data[:len(req.data)-1]) // length field now lies
		long := append(append([]byte(nil), req.data...), 0)
		send(long)
		bad := append([]byte(nil), req.data...)
		binary.BigEndian.PutUint32(bad[24:], 1<<31) // absurd length
		send(bad)
		bad = append([]byte(nil), req.data...)
		bad[17] = 0x10 // IKEv1
		send(bad)
		bad = append([]byte(nil), req.data...)
		binary.BigEndian.PutUint16(bad[30:], 3) // SK payload length below its header
		send(bad)
		if got := drops(DropMalformed) - before; got != 7 {
			t.Errorf("%d malformed drops, want 7", got)
		}
	})
	t.Run("wrong SPIs", func(t *testing.T) {
		before := drops(DropUnknownSPI)
		bad := append([]byte(nil), req.data...)
		bad[8] ^= 0xff // responder SPI: B's own
		send(bad)
		bad = append([]byte(nil), req.data...)
		bad[0] ^= 0xff // initiator SPI: the peer's
		send(bad)
		bad = append([]byte(nil), req.data...)
		bad[19] ^= byte(wire.FlagInitiator) // role flag
		send(bad)
		if got := drops(DropUnknownSPI) - before; got != 3 {
			t.Errorf("%d unknown-SPI drops, want 3", got)
		}
	})
	t.Run("bad ICV", func(t *testing.T) {
		before := drops(DropIntegrity)
		for _, i := range []int{HeaderLen + 4, HeaderLen + 12, len(req.data) - 1} {
			bad := append([]byte(nil), req.data...)
			bad[i] ^= 1
			// Make it look like the next request, so only the ICV can
			// reject it.
			binary.BigEndian.PutUint32(bad[20:], binary.BigEndian.Uint32(req.data[20:])+1)
			send(bad)
		}
		if got := drops(DropIntegrity) - before; got != 3 {
			t.Errorf("%d integrity drops, want 3", got)
		}
	})
	t.Run("replayed message IDs", func(t *testing.T) {
		st := b.e.Stats()
		send(req.data) // the last request again: answered from the cache
		if got := b.e.Stats().RetransmittedResponses - st.RetransmittedResponses; got != 1 {
			t.Errorf("replay of the last request answered %d times, want 1", got)
		}
		// An older request (IKE_AUTH, message ID 1) is dropped.
		var auth []byte
		for _, p := range n.log {
			if h, _ := wire.ParseHeader(p.data); h.Exchange == wire.IKEAuth && !h.IsResponse() {
				auth = p.data
			}
		}
		before := drops(DropOldMessageID)
		send(auth)
		if got := drops(DropOldMessageID) - before; got != 1 {
			t.Errorf("%d old-message-ID drops, want 1", got)
		}
		// A replayed response to A, who has nothing outstanding.
		beforeA := a.e.Stats().Drops[DropOldMessageID]
		a.e.HandlePacket(resp.data, resp.to, resp.from)
		if got := a.e.Stats().Drops[DropOldMessageID] - beforeA; got != 1 {
			t.Errorf("replayed response: %d drops, want 1", got)
		}
	})
	t.Run("unexpected exchanges", func(t *testing.T) {
		before := drops(DropUnexpectedExchange)
		// A validly protected IKE_AUTH request on an established SA.
		sa := a.liveSA(t)
		sa.lock()
		h := wire.Header{SPIi: sa.spii, SPIr: sa.spir, Exchange: wire.IKEAuth, MessageID: b.liveSA(t).peerNext, Flags: wire.FlagInitiator}
		pkts, err := sa.protect(h, []wire.Payload{&wire.Notify{NotifyType: wire.NotifyInitialContact}})
		sa.unlock()
		if err != nil {
			t.Fatal(err)
		}
		send(pkts[0])
		// An IKE_SA_INIT request that claims to be a response's sibling.
		init := append([]byte(nil), n.log[0].data...)
		init[19] |= byte(wire.FlagResponse)
		send(init)
		// IKE_SA_INIT "request" from the responder role.
		init = append([]byte(nil), n.log[0].data...)
		init[19] &^= byte(wire.FlagInitiator)
		send(init)
		if got := drops(DropUnexpectedExchange) - before; got != 2 {
			t.Errorf("%d unexpected-exchange drops, want 2 (%+v)", got, b.e.Stats().Drops)
		}
		if b.e.Stats().Drops[DropUnknownSPI] == 0 {
			t.Error("IKE_SA_INIT response to nobody not dropped as unknown SPI")
		}
		// B must not have advanced its message ID for the IKE_AUTH it
		// dropped, so the next real request works.
	})
	t.Run("random garbage", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		seeds := [][]byte{req.data, resp.data, n.log[0].data, n.log[1].data}
		before := b.e.Stats()
		for i := 0; i < 3000; i++ {
			d := append([]byte(nil), seeds[r.IntN(len(seeds))]...)
			for j := r.IntN(4) + 1; j > 0; j-- {
				d[r.IntN(len(d))] = byte(r.Uint32())
			}
			if r.IntN(4) == 0 {
				d = d[:r.IntN(len(d))]
			}
			b.e.HandlePacket(d, to, from)
			a.e.HandlePacket(d, from, to)
		}
		after := b.e.Stats()
		var dropped uint64
		for _, v := range after.Drops {
			dropped += v
		}
		for _, v := range before.Drops {
			dropped -= v
		}
		if after.Received-before.Received != 3000 {
			t.Errorf("received %d", after.Received-before.Received)
		}
		if dropped < 2900 {
			t.Errorf("only %d of 3000 mangled datagrams counted as drops", dropped)
		}
	})
	// Through all of it the SA kept working.
	n.drain()
	livenessRound(t, n, a)
	livenessRound(t, n, b)
	checkConsistent(t, a, b, 1)
}

func TestResponderRefusals(t *testing.T) {
	t.Run("auth class refused", func(t *testing.T) {
		n, a, b := newPair(t, nil, nil, nil)
		b.policy.allow = map[AuthKind]bool{AuthKindPubkey: true}
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull})
		if ne, ok := err.(*NotifyError); !ok || ne.Type != wire.NotifyAuthenticationFailed {
			t.Fatalf("err = %v", err)
		}
		n.drain()
		if len(b.e.SAs()) != 0 || len(a.e.SAs()) != 0 {
			t.Error("SAs left")
		}
	})
	t.Run("CHILD SA refused, IKE SA kept", func(t *testing.T) {
		n, a, b := newPair(t, nil, nil, nil)
		b.policy.refuse = &NotifyError{Type: wire.NotifyTSUnacceptable}
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
		if ne, ok := err.(*NotifyError); !ok || ne.Type != wire.NotifyTSUnacceptable {
			t.Fatalf("err = %v", err)
		}
		n.drain()
		if len(a.established()) != 1 || len(b.established()) != 1 || a.inst.count()+b.inst.count() != 0 {
			t.Errorf("A %v B %v", a.e.SAs(), b.e.SAs())
		}
		if len(a.inst.allocated) != 0 {
			t.Errorf("A kept SPIs %v", a.inst.allocated)
		}
	})
	t.Run("install fails", func(t *testing.T) {
		n, a, b := newPair(t, nil, nil, nil)
		b.inst.failAt = 1
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
		if ne, ok := err.(*NotifyError); !ok || ne.Type != wire.NotifyTSUnacceptable {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no ESP proposal", func(t *testing.T) {
		n, a, b := newPair(t, nil, nil, nil)
		b.e.cfg.ESP.Encr = []EncrAlg{{EncrChaCha20Poly1305, 0}}
		a.e.cfg.ESP.Encr = []EncrAlg{{EncrAESGCM16, 128}}
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
		if ne, ok := err.(*NotifyError); !ok || ne.Type != wire.NotifyNoProposalChosen {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown peer key", func(t *testing.T) {
		n, a, b := newPair(t, nil, nil, nil)
		delete(b.keys.keys, AddrIdentity(a.addr).String())
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
		if ne, ok := err.(*NotifyError); !ok || ne.Type != wire.NotifyAuthenticationFailed {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("PSK mismatch", func(t *testing.T) {
		n, a, b := newPair(t, nil, nil, nil)
		b.e.cfg.Credentials.PSK = func(Identity) []byte { return []byte("another secret") }
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPSK})
		if ne, ok := err.(*NotifyError); !ok || ne.Type != wire.NotifyAuthenticationFailed {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("no responder policy", func(t *testing.T) {
		n, a, b := newPair(t, nil, nil, func(c *EngineConfig) { c.GiveUp = 5 * time.Second })
		b.e.cfg.Policy = nil
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull})
		if err == nil || b.e.Stats().Drops[DropUnexpectedExchange] == 0 {
			t.Fatalf("err = %v, drops %v", err, b.e.Stats().Drops)
		}
	})
}

func TestChildOptions(t *testing.T) {
	t.Run("transport mode and narrowing", func(t *testing.T) {
		n, a, b := newPair(t, nil, nil, nil)
		b.policy.narrowTo = addrB
		wide := TrafficSelector{Type: TSIPv4AddrRange, StartPort: 0, EndPort: 0xffff,
			Start: netip.MustParseAddr("192.0.2.0"), End: netip.MustParseAddr("192.0.2.255")}
		info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Mode: ModeTransport,
			TSi: []TrafficSelector{HostSelector(addrA)}, TSr: []TrafficSelector{wide}})
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode != ModeTransport || len(info.TSRemote) != 1 || info.TSRemote[0].Start != addrB || info.TSRemote[0].End != addrB {
			t.Errorf("got %v %v", info.Mode, info.TSRemote)
		}
		checkChildPair(t, a, b, info)
	})
	t.Run("tunnel when transport not asked", func(t *testing.T) {
		n, a, b := newPair(t, nil, nil, nil)
		info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull})
		if err != nil || info.Mode != ModeTunnel {
			t.Fatalf("%v %v", info.Mode, err)
		}
	})
	t.Run("ESP suites", func(t *testing.T) {
		for _, encr := range []EncrAlg{{EncrAESGCM16, 128}, {EncrChaCha20Poly1305, 0}, {EncrAESCBC, 256}} {
			n, a, b := newPair(t, nil, nil, nil)
			esp := DefaultESPPolicy()
			esp.Encr = []EncrAlg{encr}
			ikeP := DefaultIKEPolicy()
			ikeP.Encr = []EncrAlg{encr}
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, ESP: esp, IKE: ikeP})
			if err != nil {
				t.Fatal(err)
			}
			if info.Encr != encr || (encr.ID == EncrAESCBC) != (info.Integ != IntegNone) {
				t.Errorf("%v: got %v/%v", encr, info.Encr, info.Integ)
			}
			checkChildPair(t, a, b, info)
		}
	})
	t.Run("initial contact", func(t *testing.T) {
		n, a, b := upPair(t, nil)
		// A "reboots": a fresh engine at the same address.
		a2 := n.addPeer(addrA, a.signer, nil)
		a2.trust(b)
		if _, err := n.initiate(a2, b, InitiateOptions{Auth: AuthKindPubkey, InitialContact: true}); err != nil {
			t.Fatal(err)
		}
		if len(b.e.SAs()) != 1 || b.inst.count() != 1 {
			t.Errorf("B kept the old SA: %v", b.e.SAs())
		}
	})
	t.Run("fragments traced", func(t *testing.T) {
		s := signers(t)
		n, a, b := newPair(t, s["rsa"], s["rsa"], func(c *EngineConfig) { c.FragmentThreshold = 300 })
		var tr Trace
		info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: &tr})
		if err != nil {
			t.Fatal(err)
		}
		checkChildPair(t, a, b, info)
		if tr.FragmentsSent < 2 || tr.FragmentsReceived < 2 || !tr.PeerSupportsFragments {
			t.Errorf("fragments: sent %d received %d", tr.FragmentsSent, tr.FragmentsReceived)
		}
		for _, p := range n.log {
			// IKE_SA_INIT cannot be fragmented (RFC 7383 §2.5).
			if h, _ := wire.ParseHeader(p.data); h.Exchange != wire.IKESAInit && len(p.data) > 300 {
				t.Errorf("datagram of %d octets over the threshold", len(p.data))
			}
		}
	})
	t.Run("OE vendor ID", func(t *testing.T) {
		n, a, b := newPair(t, nil, nil, nil)
		var tr Trace
		if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, Trace: &tr}); err != nil {
			t.Fatal(err)
		}
		if len(tr.VendorIDs) != 1 || !bytes.Equal(tr.VendorIDs[0], wire.VendorIDOpportunisticIPsec) {
			t.Errorf("vendor IDs %q", tr.VendorIDs)
		}
	})
	t.Run("close sends deletes", func(t *testing.T) {
		n, a, b := upPair(t, nil)
		a.e.Close()
		n.drain()
		if len(b.e.SAs()) != 0 || b.inst.count() != 0 || a.inst.count() != 0 {
			t.Errorf("after Close: B %v", b.e.SAs())
		}
		if _, err := a.e.Initiate(t.Context(), InitiateOptions{Remote: netip.AddrPortFrom(addrB, 500), Local: addrA}); err != ErrClosed {
			t.Errorf("Initiate after Close: %v", err)
		}
	})
}

// panicInstaller stands for a buggy data plane.
type panicInstaller struct{ *fakeInstaller }

func (panicInstaller) Install(context.Context, ChildSA) error { panic("data plane bug") }

func TestHandlePacketSurvivesPanics(t *testing.T) {
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) { c.GiveUp = 5 * time.Second })
	b.e.cfg.Installer = panicInstaller{b.inst}
	b.e.panics = false
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
	if err == nil {
		t.Fatal("handshake succeeded through a panicking data plane")
	}
	if b.e.Stats().Drops[DropInvalid] == 0 {
		t.Errorf("panic not counted: %+v", b.e.Stats().Drops)
	}
	// B still works: its locks were released.
	b.e.cfg.Installer = b.inst
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
}

func TestInitiatorRefusesWidenedSelectors(t *testing.T) {
	// A responder may only narrow (RFC 7296 §2.9): an answer with
	// selectors outside our proposal, or transport mode we did not ask
	// for, is refused and nothing is installed.
	_, a, _ := upPair(t, nil)
	sa := a.liveSA(t)
	sa.lock()
	defer sa.unlock()
	sel := &Selection{Number: 1, Protocol: ProtocolESP, Encr: EncrAlg{EncrAESGCM16, 256}, ESN: ESNOn}
	ours := []TrafficSelector{HostSelector(addrA)}
	theirs := []TrafficSelector{HostSelector(addrB)}
	resp := func(tsr []TrafficSelector, extra ...wire.Payload) *wire.Message {
		return &wire.Message{Header: wire.Header{Exchange: wire.CreateChildSA}, Payloads: append(extra,
			&wire.SA{Proposals: []Proposal{sel.Proposal([]byte{1, 2, 3, 4})}},
			&wire.TSPayload{Selectors: ours}, &wire.TSPayload{Responder: true, Selectors: tsr})}
	}
	nonce := make([]byte, 32)
	for name, m := range map[string]*wire.Message{
		"widened":   resp([]TrafficSelector{HostSelector(netip.MustParseAddr("203.0.113.9"))}),
		"transport": resp(theirs, &wire.Notify{NotifyType: wire.NotifyUseTransportMode}),
	} {
		c := &childSA{childCore: childCore{SPIIn: 99}, state: childLarval}
		if _, err := sa.acceptChild(c, m, DefaultESPPolicy(), ours, theirs, ModeTunnel, nil, nonce, nonce); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if c.state == childInstalled {
			t.Errorf("%s: installed", name)
		}
	}
	c := &childSA{childCore: childCore{SPIIn: 99}, state: childLarval}
	a.inst.allocated[99] = true
	if _, err := sa.acceptChild(c, resp(theirs), DefaultESPPolicy(), ours, theirs, ModeTunnel, nil, nonce, nonce); err != nil {
		t.Errorf("a proper answer: %v", err)
	}
}
