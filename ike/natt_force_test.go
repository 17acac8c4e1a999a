package ike

import (
	"crypto/hmac"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// natdHashes returns the NAT detection hashes of an IKE_SA_INIT datagram.
func natdHashes(t *testing.T, b []byte) (src, dst [][]byte, m *wire.Message) {
	t.Helper()
	m, err := wire.ParseMessage(b)
	if err != nil {
		t.Fatalf("IKE_SA_INIT: %v", err)
	}
	for _, p := range m.Payloads {
		if n, ok := p.(*wire.Notify); ok {
			switch n.NotifyType {
			case wire.NotifyNATDetectionSourceIP:
				src = append(src, n.Data)
			case wire.NotifyNATDetectionDestinationIP:
				dst = append(dst, n.Data)
			}
		}
	}
	if len(src) != 1 || len(dst) != 1 {
		t.Fatalf("NAT detection notifies: %d source, %d destination", len(src), len(dst))
	}
	return src, dst, m
}

// TestForceUDPEncapHashes checks the hashes each role sends: forcing, the
// source hash matches no address the datagram can come from and the
// destination hash stays true; not forcing, both are RFC 7296's.
func TestForceUDPEncapHashes(t *testing.T) {
	for _, force := range []bool{false, true} {
		n := newMemNet(t)
		a := n.addPeer(addrA, newEd25519(t), func(c *EngineConfig) { c.ForceUDPEncap = force })
		b := n.addPeer(addrB, newEd25519(t), func(c *EngineConfig) { c.ForceUDPEncap = force })
		a.trust(b)
		b.trust(a)
		if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
			t.Fatal(err)
		}
		for i, role := range []string{"initiator", "responder"} {
			p := n.log[i]
			src, dst, m := natdHashes(t, p.data)
			if got := m.Flags&wire.FlagResponse != 0; got != (i == 1) {
				t.Fatalf("datagram %d is not the %s's IKE_SA_INIT", i, role)
			}
			spir := m.SPIr
			if i == 0 {
				spir = SPI{}
			}
			trueSrc := NATDetectionHash(m.SPIi, spir, p.from)
			if hmac.Equal(src[0], trueSrc) == force {
				t.Errorf("force %v, %s: source hash true = %v", force, role, !force)
			}
			if !hmac.Equal(dst[0], NATDetectionHash(m.SPIi, spir, p.to)) {
				t.Errorf("force %v, %s: destination hash is not the receiver's address", force, role)
			}
			// What the receiver concludes: the sender is behind a NAT
			// exactly when forcing, and the receiver itself never is.
			st := detectNAT(m, p.to, p.from)
			if want := (NATStatus{Checked: true, RemoteBehindNAT: force}); st != want {
				t.Errorf("force %v, %s's message: receiver sees %+v, want %+v", force, role, st, want)
			}
		}
	}
}

// TestForceUDPEncapEitherRole: a forcing initiator, a forcing responder,
// or both, UDP-encapsulate ESP on 4500 without a NAT, IKE floats to 4500
// after IKE_SA_INIT; neither keeps raw ESP and port 500.
func TestForceUDPEncapEitherRole(t *testing.T) {
	for _, tc := range []struct {
		name           string
		forceA, forceB bool
		encap          bool
	}{
		{"neither", false, false, false},
		{"initiator", true, false, true},
		{"responder", false, true, true},
		{"both", true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newMemNet(t)
			a := n.addPeer(addrA, newEd25519(t), func(c *EngineConfig) { c.ForceUDPEncap = tc.forceA })
			b := n.addPeer(addrB, newEd25519(t), func(c *EngineConfig) { c.ForceUDPEncap = tc.forceB })
			a.trust(b)
			b.trust(a)
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
			if err != nil {
				t.Fatal(err)
			}
			checkUp(t, a, b, info)
			ca, _ := a.inst.get(info.SPIIn)
			cb, _ := b.inst.get(ca.SPIOut)
			for _, c := range []struct {
				who string
				sa  ChildSA
			}{{"A", ca}, {"B", cb}} {
				if c.sa.Encap != tc.encap {
					t.Errorf("%s's CHILD SA encap %v, want %v", c.who, c.sa.Encap, tc.encap)
				}
				if tc.encap && (c.sa.EncapLocal != 4500 || c.sa.EncapRemote != 4500) {
					t.Errorf("%s's CHILD SA encap ports %d->%d, want 4500->4500", c.who, c.sa.EncapLocal, c.sa.EncapRemote)
				}
			}
			port := uint16(500)
			if tc.encap {
				port = 4500
			}
			for _, p := range n.log[2:] {
				if p.from.Port() != port || p.to.Port() != port {
					t.Errorf("after IKE_SA_INIT a datagram went %v -> %v, want port %d", p.from, p.to, port)
				}
			}
			for _, p := range []*testPeer{a, b} {
				s := p.established()[0]
				if s.NATT != tc.encap || s.BehindNAT {
					t.Errorf("%v's SA: natt %v (want %v), behind NAT %v", p.addr, s.NATT, tc.encap, s.BehindNAT)
				}
			}
			// No NAT: nobody needs keepalives.
			n.advance(time.Minute + time.Second)
			if ka, kb := a.e.cfg.Sender.(*memSender).keepalives, b.e.cfg.Sender.(*memSender).keepalives; ka != 0 || kb != 0 {
				t.Errorf("keepalives: A %d, B %d; want none", ka, kb)
			}
		})
	}
}

// stripNATD removes the NAT detection notifies of IKE_SA_INIT datagrams
// from addr, as a peer without NAT traversal sends them.
func stripNATD(t *testing.T, addr netip.Addr) func(p *memPacket) int {
	return func(p *memPacket) int {
		if p.from.Addr() != addr || p.from.Port() != 500 {
			return 1
		}
		m, err := wire.ParseMessage(p.data)
		if err != nil || m.Exchange != wire.IKESAInit {
			return 1
		}
		var keep []wire.Payload
		for _, pl := range m.Payloads {
			if n, ok := pl.(*wire.Notify); ok && (n.NotifyType == wire.NotifyNATDetectionSourceIP || n.NotifyType == wire.NotifyNATDetectionDestinationIP) {
				continue
			}
			keep = append(keep, pl)
		}
		m.Payloads = keep
		b, err := m.Marshal()
		if err != nil {
			t.Errorf("re-marshal: %v", err)
			return 1
		}
		p.data = b
		return 1
	}
}

// TestForceUDPEncapPeerWithoutNATT: a responder that sends no NAT
// detection does not speak NAT-T, so a forcing initiator stays on port
// 500 (and raw ESP). Rewriting IKE_SA_INIT breaks the AUTH signatures
// over it, so the test looks only at where IKE_AUTH goes.
func TestForceUDPEncapPeerWithoutNATT(t *testing.T) {
	for _, strip := range []bool{false, true} {
		n := newMemNet(t)
		a := n.addPeer(addrA, newEd25519(t), func(c *EngineConfig) { c.ForceUDPEncap = true })
		b := n.addPeer(addrB, newEd25519(t), nil)
		a.trust(b)
		b.trust(a)
		if strip {
			n.filter = stripNATD(t, addrB)
		}
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
		if !strip && err != nil {
			t.Fatal(err)
		}
		want := uint16(4500)
		if strip {
			want = 500
		}
		if len(n.log) < 3 {
			t.Fatalf("strip %v: %d datagrams", strip, len(n.log))
		}
		if p := n.log[2]; p.from.Port() != want || p.to.Port() != want {
			t.Errorf("NAT detection stripped %v: IKE_AUTH went %v -> %v, want port %d", strip, p.from, p.to, want)
		}
	}
}

// TestForceUDPEncapSurvivesRekeys: the forcing initiator's IKE SA, rekeyed
// by either end, hands the forced encapsulation to its successor, so a
// CHILD SA rekeyed over it stays ESP-in-UDP at both ends. Only A forces:
// B's encapsulation rests on the NAT it believes A is behind, A's on the
// flag alone.
func TestForceUDPEncapSurvivesRekeys(t *testing.T) {
	for _, from := range []string{"A", "B"} {
		t.Run("from"+from, func(t *testing.T) {
			n := newMemNet(t)
			a := n.addPeer(addrA, newEd25519(t), func(c *EngineConfig) { c.ForceUDPEncap = true })
			b := n.addPeer(addrB, newEd25519(t), nil)
			a.trust(b)
			b.trust(a)
			if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
				t.Fatal(err)
			}
			n.drain()
			p := a
			if from == "B" {
				p = b
			}
			done := startIKERekey(t, p)
			n.run(func() bool { return len(done) > 0 }, time.Minute)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			n.advance(time.Second)
			d2 := startChildRekey(t, p, p.onlyChild(t), DHNone)
			n.run(func() bool { return len(d2) > 0 }, time.Minute)
			if err := <-d2; err != nil {
				t.Fatal(err)
			}
			n.advance(time.Second)
			ca, _ := a.inst.get(a.onlyChild(t))
			cb, _ := b.inst.get(ca.SPIOut)
			if !ca.Encap || !cb.Encap || ca.EncapLocal != 4500 || cb.EncapRemote != 4500 {
				t.Errorf("after rekeys: A encap %v %d->%d, B encap %v %d->%d; want ESP-in-UDP on 4500",
					ca.Encap, ca.EncapLocal, ca.EncapRemote, cb.Encap, cb.EncapLocal, cb.EncapRemote)
			}
		})
	}
}
