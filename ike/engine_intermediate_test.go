package ike

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// hybridPair is two engines whose IKE policies are spec (strongSwan
// syntax), with fragment threshold frag (0: the default).
func hybridPair(t testing.TB, spec string, frag int) (*memNet, *testPeer, *testPeer) {
	t.Helper()
	pol, err := ParseProposals(ProtocolIKE, spec)
	if err != nil {
		t.Fatal(err)
	}
	return newPair(t, nil, nil, func(c *EngineConfig) {
		c.IKE = pol
		if frag > 0 {
			c.FragmentThreshold = frag
		}
	})
}

// TestHybridHandshake: engine to engine, the additional key exchanges run
// in IKE_INTERMEDIATE exchanges (message IDs 1..n, IKE_AUTH next), in
// fragments when the threshold is small, and both sides end with the same
// CHILD SA keys.
func TestHybridHandshake(t *testing.T) {
	for _, tc := range []struct {
		spec  string
		frag  int
		addke []DHGroup
	}{
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem768", 0, []DHGroup{DHMLKEM768}},
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem768", 576, []DHGroup{DHMLKEM768}},
		{"aes256gcm16-prfsha384-ecp384-ke1_mlkem1024", 576, []DHGroup{DHMLKEM1024}},
		{"aes256-sha256-x25519-ke1_mlkem768", 576, []DHGroup{DHMLKEM768}},
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke2_mlkem1024", 576, []DHGroup{DHMLKEM768, DHMLKEM1024}},
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke3_ecp256", 0, []DHGroup{DHMLKEM768, DHECP256}},
	} {
		t.Run(fmt.Sprintf("%s/frag%d", tc.spec, tc.frag), func(t *testing.T) {
			n, a, b := hybridPair(t, tc.spec, tc.frag)
			trace := &Trace{}
			info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: trace})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(trace.AddKE, tc.addke) {
				t.Errorf("additional exchanges %v, want %v", trace.AddKE, tc.addke)
			}
			var exch []string
			for _, x := range trace.Exchanges {
				exch = append(exch, fmt.Sprintf("%v/%d", x.Exchange, x.MessageID))
			}
			want := []string{"IKE_SA_INIT/0"}
			for i := range tc.addke {
				want = append(want, fmt.Sprintf("IKE_INTERMEDIATE/%d", i+1))
			}
			want = append(want, fmt.Sprintf("IKE_AUTH/%d", len(tc.addke)+1))
			if !slices.Equal(exch, want) {
				t.Errorf("exchanges %v, want %v", exch, want)
			}
			if tc.frag > 0 && (trace.FragmentsSent == 0 || trace.FragmentsReceived == 0) {
				t.Errorf("fragments sent %d, received %d, want both (an ML-KEM key exceeds %d octets)", trace.FragmentsSent, trace.FragmentsReceived, tc.frag)
			}
			ca, ok := a.inst.get(info.SPIIn)
			if !ok {
				t.Fatal("initiator has no CHILD SA")
			}
			cb, ok := b.inst.get(ca.SPIOut)
			if !ok {
				t.Fatal("responder has no CHILD SA")
			}
			if !bytes.Equal(ca.EncrKeyOut, cb.EncrKeyIn) || !bytes.Equal(ca.EncrKeyIn, cb.EncrKeyOut) {
				t.Error("CHILD SA keys differ")
			}
		})
	}
}

// TestHybridIntAuthMismatch: a responder whose IntAuth chain differs from
// the initiator's (as when an IKE_INTERMEDIATE message was altered on the
// way) refuses IKE_AUTH with AUTHENTICATION_FAILED.
func TestHybridIntAuthMismatch(t *testing.T) {
	n, a, b := hybridPair(t, "aes256gcm16-prfsha384-x25519-ke1_mlkem768", 0)
	n.filter = func(p *memPacket) int {
		h, err := wire.ParseHeader(p.data)
		if err == nil && h.Exchange == wire.IKEAuth && !h.IsResponse() {
			b.e.mu.Lock()
			for _, sa := range b.e.sas {
				sa.lock()
				if sa.handshake != nil && len(sa.intAuth.i) > 0 {
					sa.intAuth.i[0] ^= 1
				}
				sa.mu.Unlock()
			}
			b.e.mu.Unlock()
		}
		return 1
	}
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey})
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
		t.Fatalf("initiate with mismatched IntAuth: %v, want AUTHENTICATION_FAILED", err)
	}
}

// TestHybridNeedsIntermediateNotify: an attacker strips
// INTERMEDIATE_EXCHANGE_SUPPORTED from the initiator's IKE_SA_INIT. A
// responder requiring ML-KEM then refuses with NO_PROPOSAL_CHOSEN; one
// that allows NONE picks it (no additional exchange), and the downgrade is
// caught in IKE_AUTH: the AUTH payloads cover IKE_SA_INIT as sent, so the
// responder answers AUTHENTICATION_FAILED.
func TestHybridNeedsIntermediateNotify(t *testing.T) {
	_, offer, err := ParseOffer(ProtocolIKE, "aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		responder string
		want      wire.NotifyType
	}{
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem768", wire.NotifyNoProposalChosen},
		{"aes256gcm16-prfsha384-x25519-ke1_mlkem768-ke1_none", wire.NotifyAuthenticationFailed},
	} {
		n, a, b := hybridPair(t, tc.responder, 0)
		// Drop the notify from the initiator's IKE_SA_INIT request.
		n.filter = func(p *memPacket) int {
			m, err := wire.ParseMessage(p.data)
			if err != nil || m.Exchange != wire.IKESAInit || m.IsResponse() {
				return 1
			}
			m.Payloads = slices.DeleteFunc(m.Payloads, func(x wire.Payload) bool {
				nt, ok := x.(*wire.Notify)
				return ok && nt.NotifyType == wire.NotifyIntermediateExchangeSupported
			})
			b, err := m.Marshal()
			if err != nil {
				t.Error(err)
				return 1
			}
			p.data = b
			return 1
		}
		trace := &Trace{}
		pol := a.e.cfg.IKE
		_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, IKE: pol, IKEOffer: offer, Trace: trace})
		var ne *NotifyError
		if !errors.As(err, &ne) || ne.Type != tc.want || len(trace.AddKE) != 0 {
			t.Errorf("responder %s: %v, additional exchanges %v; want %v", tc.responder, err, trace.AddKE, tc.want)
		}
	}
}

// TestHybridLostIntermediateResponse: the responder's IKE_INTERMEDIATE
// response is lost once; the initiator's retransmission, still under the
// keys from before the update, gets the same response again, and the
// handshake completes.
func TestHybridLostIntermediateResponse(t *testing.T) {
	n, a, b := hybridPair(t, "aes256gcm16-prfsha384-x25519-ke1_mlkem768", 0)
	dropped := 0
	n.filter = func(p *memPacket) int {
		h, err := wire.ParseHeader(p.data)
		if err == nil && h.Exchange == wire.IKEIntermediate && h.IsResponse() && dropped == 0 {
			dropped++
			return 0
		}
		return 1
	}
	trace := &Trace{}
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, Trace: trace}); err != nil {
		t.Fatal(err)
	}
	if dropped != 1 || len(trace.Exchanges) < 2 || trace.Exchanges[1].Retransmits == 0 {
		t.Errorf("dropped %d responses, exchanges %+v; want IKE_INTERMEDIATE retransmitted", dropped, trace.Exchanges)
	}
}
