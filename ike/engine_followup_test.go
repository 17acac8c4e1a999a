package ike

import (
	"crypto/hmac"
	"crypto/sha512"
	"slices"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// followupPair sets up two engines whose IKE and ESP policies both require
// X25519 + ML-KEM-768 (ke1_mlkem768), with an IKE SA and its CHILD SA up.
func followupPair(t testing.TB, mod func(*EngineConfig)) (*memNet, *testPeer, *testPeer) {
	t.Helper()
	ikePol, err := ParseProposals(ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768")
	if err != nil {
		t.Fatal(err)
	}
	espPol, err := ParseProposals(ProtocolESP, "aes256gcm16-x25519-ke1_mlkem768")
	if err != nil {
		t.Fatal(err)
	}
	n, a, b := newPair(t, nil, nil, func(c *EngineConfig) {
		c.IKE, c.ESP = ikePol, espPol
		if mod != nil {
			mod(c)
		}
	})
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
	n.drain()
	return n, a, b
}

// followupCount counts the IKE_FOLLOWUP_KE requests and responses n
// carried (a fragmented one once).
func followupCount(n *memNet) (req, resp int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, p := range n.log {
		h, err := wire.ParseHeader(p.data)
		if err != nil || h.Exchange != wire.IKEFollowupKE {
			continue
		}
		if m, err := wire.ParseMessage(p.data); err == nil && len(m.Payloads) > 0 {
			if f, ok := m.Payloads[len(m.Payloads)-1].(*wire.EncryptedFragment); ok && f.Number != 1 {
				continue
			}
		}
		if h.IsResponse() {
			resp++
		} else {
			req++
		}
	}
	return req, resp
}

// childAddKE returns the additional key exchanges of p's CHILD SA spi.
func childAddKE(p *testPeer, spi uint32) []DHGroup {
	sa := p.e.findChild(spi)
	if sa == nil {
		return nil
	}
	sa.lock()
	defer sa.unlock()
	if c := sa.childByIn(spi); c != nil {
		return c.addKE
	}
	return nil
}

// TestRekeyChildFollowupKE: a CHILD SA rekey with X25519 + ML-KEM-768,
// started by either side, runs one IKE_FOLLOWUP_KE after CREATE_CHILD_SA,
// and both sides install the same keys, derived from both secrets.
func TestRekeyChildFollowupKE(t *testing.T) {
	for _, from := range []string{"A", "B"} {
		t.Run("from"+from, func(t *testing.T) {
			n, a, b := followupPair(t, nil)
			p := a
			if from == "B" {
				p = b
			}
			old := p.onlyChild(t)
			done := startChildRekey(t, p, old, DHCurve25519)
			n.run(func() bool { return len(done) > 0 }, time.Minute)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			n.drain()
			checkConsistent(t, a, b, 1)
			spi := p.onlyChild(t)
			if spi == old {
				t.Fatal("CHILD SA not replaced")
			}
			if req, resp := followupCount(n); req != 1 || resp != 1 {
				t.Errorf("%d IKE_FOLLOWUP_KE requests, %d responses; want 1 each", req, resp)
			}
			if got := childAddKE(a, a.onlyChild(t)); !slices.Equal(got, []DHGroup{DHMLKEM768}) {
				t.Errorf("A's CHILD SA: additional key exchanges %v", got)
			}
			if got := childAddKE(b, b.onlyChild(t)); !slices.Equal(got, []DHGroup{DHMLKEM768}) {
				t.Errorf("B's CHILD SA: additional key exchanges %v", got)
			}
			if info := p.e.SAs()[0].Children[0]; info.PFS != DHCurve25519 {
				t.Errorf("PFS %v", info.PFS)
			}
		})
	}
}

// TestRekeyIKEFollowupKE: an IKE SA rekey with X25519 + ML-KEM-768 runs
// one IKE_FOLLOWUP_KE; the new IKE SA's keys agree (a CHILD SA rekey and
// a Delete run over it) and record ML-KEM-768.
func TestRekeyIKEFollowupKE(t *testing.T) {
	for _, from := range []string{"A", "B"} {
		t.Run("from"+from, func(t *testing.T) {
			n, a, b := followupPair(t, nil)
			p := a
			if from == "B" {
				p = b
			}
			oldID := a.liveSA(t).id()
			child := a.onlyChild(t)
			done := startIKERekey(t, p)
			n.run(func() bool { return len(done) > 0 }, time.Minute)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			n.advance(time.Second)
			na, nb := a.liveSA(t), b.liveSA(t)
			if na.id() == oldID || na.id() != nb.id() {
				t.Fatalf("after rekey: A %v, B %v, old %v", na.id(), nb.id(), oldID)
			}
			if req, resp := followupCount(n); req != 1 || resp != 1 {
				t.Errorf("%d IKE_FOLLOWUP_KE requests, %d responses; want 1 each", req, resp)
			}
			for _, sa := range []*ikeSA{na, nb} {
				sa.lock()
				got := sa.kes.additional()
				sa.unlock()
				if !slices.Equal(got, []DHGroup{DHMLKEM768}) {
					t.Errorf("new IKE SA: additional key exchanges %v, want ML-KEM-768", got)
				}
			}
			if len(a.e.SAs()) != 1 || len(b.e.SAs()) != 1 {
				t.Fatalf("old SA not deleted: A %v B %v", a.e.SAs(), b.e.SAs())
			}
			checkConsistent(t, a, b, 1)
			if a.onlyChild(t) != child {
				t.Error("CHILD SA did not move to the new IKE SA")
			}
			d2 := startChildRekey(t, a, child, DHCurve25519)
			n.run(func() bool { return len(d2) > 0 }, time.Minute)
			if err := <-d2; err != nil {
				t.Fatal(err)
			}
			n.advance(time.Second)
			checkConsistent(t, a, b, 1)
			deleteAndCheck(t, n, a, b)
		})
	}
}

// TestFollowupKEMessageLost: losing the IKE_FOLLOWUP_KE request or its
// response once costs a retransmission, not the rekey.
func TestFollowupKEMessageLost(t *testing.T) {
	for _, lose := range []string{"request", "response"} {
		for _, what := range []string{"child", "ike"} {
			t.Run(what+"/"+lose, func(t *testing.T) {
				n, a, b := followupPair(t, nil)
				dropped := false
				n.filter = func(p *memPacket) int {
					h, err := wire.ParseHeader(p.data)
					if err == nil && h.Exchange == wire.IKEFollowupKE && h.IsResponse() == (lose == "response") && !dropped {
						dropped = true
						return 0
					}
					return 1
				}
				var done chan error
				if what == "child" {
					done = startChildRekey(t, a, a.onlyChild(t), DHCurve25519)
				} else {
					done = startIKERekey(t, a)
				}
				n.run(func() bool { return len(done) > 0 }, time.Minute)
				if err := <-done; err != nil {
					t.Fatal(err)
				}
				n.advance(time.Second)
				if !dropped {
					t.Fatal("no IKE_FOLLOWUP_KE to lose")
				}
				if req, _ := followupCount(n); req != 2 {
					t.Errorf("%d IKE_FOLLOWUP_KE requests, want 2 (one retransmission)", req)
				}
				checkConsistent(t, a, b, 1)
				if b.liveSA(t).followup != nil {
					t.Error("B still holds an additional key exchange")
				}
			})
		}
	}
}

// TestFollowupKEFallback: a peer that does not run additional key
// exchanges in CREATE_CHILD_SA (no ADDKE in its policies) answers our
// offer, which requires ML-KEM-768, with NO_PROPOSAL_CHOSEN; the rekeys of
// SAs that had none fall back to what was negotiated (X25519 alone).
func TestFollowupKEFallback(t *testing.T) {
	n, a, b := upPair(t, nil)
	esp, err := ParseProposals(ProtocolESP, "aes256gcm16-x25519-ke1_mlkem768")
	if err != nil {
		t.Fatal(err)
	}
	ikePol, err := ParseProposals(ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768,aes128gcm16-prfsha256-x25519-ke1_mlkem768")
	if err != nil {
		t.Fatal(err)
	}
	a.e.cfg.ESP, a.e.cfg.IKE = esp, ikePol
	old := a.onlyChild(t)
	done := startChildRekey(t, a, old, DHCurve25519)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.drain()
	checkConsistent(t, a, b, 1)
	if spi := a.onlyChild(t); spi == old || len(childAddKE(a, spi)) != 0 {
		t.Errorf("CHILD SA %08x (old %08x), additional exchanges %v", spi, old, childAddKE(a, spi))
	}
	done = startIKERekey(t, a)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.advance(time.Second)
	if req, _ := followupCount(n); req != 0 {
		t.Errorf("%d IKE_FOLLOWUP_KE requests to a peer without them", req)
	}
	if a.liveSA(t).id() != b.liveSA(t).id() {
		t.Fatal("IKE SAs differ after the rekey")
	}
	checkConsistent(t, a, b, 1)
}

// TestFollowupKERekeyCollision: both sides rekey the same CHILD SA, or the
// IKE SA, at once, each with an IKE_FOLLOWUP_KE; nothing crashes and the
// sides end with the same SAs.
func TestFollowupKERekeyCollision(t *testing.T) {
	for i := 0; i < 6; i++ {
		for _, what := range []string{"child", "ike"} {
			n, a, b := followupPair(t, nil)
			var da, db chan error
			if what == "child" {
				da = startChildRekey(t, a, a.onlyChild(t), DHCurve25519)
				db = startChildRekey(t, b, b.onlyChild(t), DHCurve25519)
			} else {
				da, db = startIKERekey(t, a), startIKERekey(t, b)
			}
			n.run(func() bool { return len(da) > 0 && len(db) > 0 }, time.Minute)
			<-da
			<-db
			n.advance(time.Minute)
			if len(a.e.SAs()) != 1 || len(b.e.SAs()) != 1 || a.liveSA(t).id() != b.liveSA(t).id() {
				t.Fatalf("%s round %d: A %v\nB %v", what, i, a.e.SAs(), b.e.SAs())
			}
			if a.inst.count() != b.inst.count() || a.inst.count() < 1 {
				t.Fatalf("%s round %d: A has %d CHILD SAs, B %d", what, i, a.inst.count(), b.inst.count())
			}
			checkConsistent(t, a, b, a.inst.count())
		}
	}
}

// TestRekeyKeysAddKE is a known-answer test of RFC 9370 §2.2.4's key
// derivation, recomputed here from the secrets with HMAC-SHA-384 and
// prf+ written out: SKEYSEED = prf(SK_d, SK(0) | Ni | Nr | SK(1) | SK(2))
// for an IKE SA rekey, KEYMAT = prf+(SK_d, SK(0) | Ni | Nr | SK(1) |
// SK(2)) for a CHILD SA.
func TestRekeyKeysAddKE(t *testing.T) {
	fill := func(n int, b byte) []byte {
		s := make([]byte, n)
		for i := range s {
			s[i] = b + byte(i)
		}
		return s
	}
	skd, sk0, ni, nr, sk1, sk2 := fill(48, 0x10), fill(32, 0x20), fill(32, 0x30), fill(32, 0x40), fill(32, 0x50), fill(32, 0x60)
	mac := func(key []byte, parts ...[]byte) []byte {
		h := hmac.New(sha512.New384, key)
		for _, p := range parts {
			h.Write(p)
		}
		return h.Sum(nil)
	}
	want := mac(skd, sk0, ni, nr, sk1, sk2)
	if got := RekeySKEYSEED(PRFHMACSHA2_384, skd, sk0, ni, nr, sk1, sk2); !hmac.Equal(got, want) {
		t.Errorf("SKEYSEED %x, want %x", got, want)
	}
	if got := RekeySKEYSEED(PRFHMACSHA2_384, skd, sk0, ni, nr); !hmac.Equal(got, mac(skd, sk0, ni, nr)) {
		t.Errorf("SKEYSEED without additional exchanges %x", got)
	}
	// prf+ (RFC 7296 §2.13): T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
	seed := slices.Concat(sk0, ni, nr, sk1, sk2)
	var km, prev []byte
	for i := byte(1); len(km) < 2*36; i++ {
		prev = mac(skd, prev, seed, []byte{i})
		km = append(km, prev...)
	}
	suite := ChildSuite{Encr: EncrAlg{EncrAESGCM16, 256}, Integ: IntegNone}
	keys, err := suite.DeriveChildKeys(PRFHMACSHA2_384, skd, sk0, ni, nr, sk1, sk2)
	if err != nil {
		t.Fatal(err)
	}
	if !hmac.Equal(keys.EncrI, km[:36]) || !hmac.Equal(keys.EncrR, km[36:72]) {
		t.Errorf("KEYMAT %x | %x, want %x", keys.EncrI, keys.EncrR, km[:72])
	}
	classical, err := suite.DeriveChildKeys(PRFHMACSHA2_384, skd, sk0, ni, nr)
	if err != nil {
		t.Fatal(err)
	}
	if hmac.Equal(classical.EncrI, keys.EncrI) {
		t.Error("the additional secrets do not change KEYMAT")
	}
}

// TestFollowupKENoDowngrade: a CHILD SA and an IKE SA whose keys came from
// ML-KEM-768 do not fall back: when the peer stops accepting the
// additional exchange, the rekeys fail with NO_PROPOSAL_CHOSEN and the old
// SAs stay.
func TestFollowupKENoDowngrade(t *testing.T) {
	n, a, b := followupPair(t, nil)
	done := startChildRekey(t, a, a.onlyChild(t), DHCurve25519)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.drain()
	old := a.onlyChild(t)
	oldID := a.liveSA(t).id()
	b.e.cfg.ESP.AddKE, b.e.cfg.IKE.AddKE = [7][]DHGroup{}, [7][]DHGroup{}
	done = startChildRekey(t, a, old, DHCurve25519)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err == nil {
		t.Error("CHILD SA rekey without ML-KEM-768 succeeded")
	}
	done = startIKERekey(t, a)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err == nil {
		t.Error("IKE SA rekey without ML-KEM-768 succeeded")
	}
	n.drain()
	checkConsistent(t, a, b, 1)
	if a.onlyChild(t) != old || a.liveSA(t).id() != oldID || b.liveSA(t).id() != oldID {
		t.Error("the old SAs did not stay")
	}
}

// TestFollowupKEOptional: with ML-KEM-768 or NONE offered and a peer that
// accepts only NONE, the rekeys are classical in one exchange.
func TestFollowupKEOptional(t *testing.T) {
	n, a, b := upPair(t, nil)
	esp, err := ParseProposals(ProtocolESP, "aes256gcm16-x25519-ke1_mlkem768-ke1_none")
	if err != nil {
		t.Fatal(err)
	}
	a.e.cfg.ESP = esp
	a.e.cfg.IKE.AddKE[0] = []DHGroup{DHMLKEM768, DHNone}
	done := startChildRekey(t, a, a.onlyChild(t), DHCurve25519)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done = startIKERekey(t, a)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.advance(time.Second)
	checkConsistent(t, a, b, 1)
	var ccsa int
	n.mu.Lock()
	for _, p := range n.log {
		if h, err := wire.ParseHeader(p.data); err == nil && h.Exchange == wire.CreateChildSA && !h.IsResponse() {
			ccsa++
		}
	}
	n.mu.Unlock()
	if req, _ := followupCount(n); req != 0 || ccsa != 2 {
		t.Errorf("%d CREATE_CHILD_SA requests, %d IKE_FOLLOWUP_KE; want 2 and 0", ccsa, req)
	}
}

// TestFollowupKEResponderIKEPolicy: a responder whose ESP policy has no
// ADDKE lists accepts in CREATE_CHILD_SA the additional exchanges of its
// IKE policy, as it accepts its IKE groups for PFS: a peer requiring
// ML-KEM-768 for its CHILD SA rekey gets it.
func TestFollowupKEResponderIKEPolicy(t *testing.T) {
	n, a, b := followupPair(t, nil)
	b.e.cfg.ESP = DefaultESPPolicy()
	done := startChildRekey(t, a, a.onlyChild(t), DHCurve25519)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.drain()
	checkConsistent(t, a, b, 1)
	if got := childAddKE(b, b.onlyChild(t)); !slices.Equal(got, []DHGroup{DHMLKEM768}) {
		t.Errorf("B's CHILD SA: additional key exchanges %v, want ML-KEM-768", got)
	}
	// Without ADDKE in the IKE policy either, only NONE: the rekey falls back.
	b.e.cfg.IKE.AddKE = [7][]DHGroup{}
	a.e.cfg.ESP.AddKE[0] = []DHGroup{DHMLKEM768, DHNone}
	done = startChildRekey(t, a, a.onlyChild(t), DHCurve25519)
	n.run(func() bool { return len(done) > 0 }, time.Minute)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n.drain()
	checkConsistent(t, a, b, 1)
	if got := childAddKE(b, b.onlyChild(t)); len(got) != 0 {
		t.Errorf("B's CHILD SA: additional key exchanges %v, want none", got)
	}
}
