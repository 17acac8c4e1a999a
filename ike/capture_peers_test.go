package ike

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// TestCaptureLibreswanFragments checks the RFC 7383 fragments of the
// Libreswan IKE_AUTH response (RSASSA-PSS signature, too big for a
// 576-octet IPv4 datagram) and reassembles their protected bodies. No keys
// exist for this capture, so the reassembled octets stay encrypted: the
// test proves the fragment headers and our reassembly bookkeeping, not the
// decryption (which the strongSwan tests and the SKF round trips cover).
func TestCaptureLibreswanFragments(t *testing.T) {
	msgs, _ := readCaptureIKE(t, filepath.Join(capturesDir, "libreswan-oe-dnssec-rsasig.pcap"))
	var frags []captured
	for _, c := range msgs {
		if _, ok := c.msg.Payloads[len(c.msg.Payloads)-1].(*wire.EncryptedFragment); ok {
			frags = append(frags, c)
		}
	}
	if len(frags) != 2 {
		t.Fatalf("%d SKF messages, want 2", len(frags))
	}
	var r wire.Reassembler
	sum := 0
	for i, c := range frags {
		m := c.msg
		f := m.Payloads[0].(*wire.EncryptedFragment)
		if len(m.Payloads) != 1 || m.Exchange != wire.IKEAuth || !m.IsResponse() || m.MessageID != 1 {
			t.Errorf("fragment %d: %v response=%v mid=%d payloads=%d", i+1, m.Exchange, m.IsResponse(), m.MessageID, len(m.Payloads))
		}
		if f.Number != uint16(i+1) || f.Total != 2 {
			t.Errorf("fragment %d: number %d total %d", i+1, f.Number, f.Total)
		}
		wantNext := wire.PayloadNone
		if i == 0 {
			wantNext = wire.PayloadIDr // Libreswan's null-auth IKE_AUTH response: IDr AUTH SA TSi TSr
		}
		if f.NextPayload != wantNext {
			t.Errorf("fragment %d: next payload %v, want %v", i+1, f.NextPayload, wantNext)
		}
		// 20 IPv4 + 8 UDP: Libreswan keeps fragments within 576 octets.
		if n := 28 + len(c.raw); n > 576 {
			t.Errorf("fragment %d: IPv4 datagram of %d octets, above 576", i+1, n)
		}
		// AES-GCM-16: 8-octet IV and 16-octet ICV around the ciphertext.
		if len(f.Body) < 8+16+1 {
			t.Errorf("fragment %d: body of %d octets", i+1, len(f.Body))
		}
		sum += len(f.Body)
		// Out of order is fine: feed the second fragment first.
	}
	for _, i := range []int{1, 0} {
		f := frags[i].msg.Payloads[0].(*wire.EncryptedFragment)
		done, err := r.AddFragment(frags[i].msg.MessageID, f.Number, f.Total, f.NextPayload, f.Body)
		if err != nil {
			t.Fatal(err)
		}
		if done != (i == 0) {
			t.Fatalf("after fragment %d: done=%v", f.Number, done)
		}
	}
	first, data := r.Assembled()
	f1 := frags[0].msg.Payloads[0].(*wire.EncryptedFragment).Body
	if first != wire.PayloadIDr || len(data) != sum || !bytes.HasPrefix(data, f1) {
		t.Errorf("reassembled: first %v, %d octets (want %d), starts with fragment 1: %v", first, len(data), sum, bytes.HasPrefix(data, f1))
	}
	// A retransmitted fragment is ignored, not counted twice.
	var r2 wire.Reassembler
	f := frags[0].msg.Payloads[0].(*wire.EncryptedFragment)
	for k := 0; k < 2; k++ {
		if done, err := r2.AddFragment(1, f.Number, f.Total, f.NextPayload, f.Body); done || err != nil {
			t.Fatalf("duplicate fragment: done=%v err=%v", done, err)
		}
	}
}

// TestCapturePeerProposals checks what the peers offer in IKE_SA_INIT
// and what our default policy picks from it.
func TestCapturePeerProposals(t *testing.T) {
	t.Run("libreswan", func(t *testing.T) {
		msgs, _ := readCaptureIKE(t, filepath.Join(capturesDir, "libreswan-oe-null.pcap"))
		req := msgs[0].msg
		sa := req.Get(wire.PayloadSA).(*wire.SA)
		if len(sa.Proposals) != 4 {
			t.Fatalf("%d proposals, want 4", len(sa.Proposals))
		}
		ke := req.Get(wire.PayloadKE).(*wire.KE)
		if ke.Group != DHMODP2048 || len(ke.Data) != 256 {
			t.Errorf("KE group %v with %d octets, want MODP_2048/256", ke.Group, len(ke.Data))
		}
		if v, ok := req.Get(wire.PayloadVendorID).(*wire.VendorID); !ok || !bytes.Equal(v.Data, wire.VendorIDOpportunisticIPsec) {
			t.Errorf("vendor ID %v", req.Get(wire.PayloadVendorID))
		}
		// Without KE preference we would ask for X25519 (INVALID_KE);
		// preferring the KE group picks MODP2048 in one round trip.
		sel, err := DefaultIKEPolicy().Select(sa.Proposals)
		if err != nil || sel.DH != DHCurve25519 || sel.Encr != (EncrAlg{EncrAESGCM16, 256}) || sel.PRF != PRFHMACSHA2_256 {
			t.Errorf("select: %+v %v", sel, err)
		}
		sel, err = DefaultIKEPolicy().PreferDH(ke.Group).Select(sa.Proposals)
		if err != nil || sel.DH != DHMODP2048 || sel.Number != 1 {
			t.Errorf("select preferring KE group: %+v %v", sel, err)
		}
		// The responder's answer is one of the offered proposals.
		resp := msgs[1].msg.Get(wire.PayloadSA).(*wire.SA)
		if len(resp.Proposals) != 1 || len(resp.Proposals[0].Transforms) != 3 {
			t.Fatalf("response SA %+v", resp)
		}
		got := resp.Proposals[0].Transforms
		if got[0].String() != "AES_GCM_16_256" || got[1].String() != "PRF_HMAC_SHA2_512" || got[2].String() != "MODP_2048" {
			t.Errorf("Libreswan chose %v", got)
		}
		// Our generated offer can be matched by a policy like Libreswan's.
		lib := Policy{Protocol: ProtocolIKE, Encr: []EncrAlg{{EncrAESGCM16, 256}}, PRF: []PRFID{PRFHMACSHA2_512}, DH: []DHGroup{DHMODP2048}}
		if _, err := lib.Select(DefaultIKEPolicy().Proposals(nil, DHCurve25519)); err != nil {
			t.Errorf("Libreswan-like policy rejects our offer: %v", err)
		}
	})
	t.Run("strongswan", func(t *testing.T) {
		msgs, _ := readCaptureIKE(t, filepath.Join(capturesDir, "strongswan-ikev2-psk.pcap"))
		req := msgs[0].msg
		sa := req.Get(wire.PayloadSA).(*wire.SA)
		sel, err := DefaultIKEPolicy().Select(sa.Proposals)
		if err != nil || sel.IKESuite().String() != "AES_GCM_16_128/NONE/PRF_HMAC_SHA2_256/CURVE25519" {
			t.Errorf("select: %+v %v", sel, err)
		}
		ke := req.Get(wire.PayloadKE).(*wire.KE)
		if ke.Group != DHCurve25519 || len(ke.Data) != 32 {
			t.Errorf("KE %v/%d", ke.Group, len(ke.Data))
		}
		hs, err := parseSignatureHashes(req.Notify(wire.NotifySignatureHashAlgorithms))
		if err != nil || len(hs) != 4 || hs[3] != HashIdentity {
			t.Errorf("signature hashes %v %v", hs, err)
		}
		if req.Notify(wire.NotifyRedirectSupported) == nil || msgs[1].msg.Notify(wire.NotifyRedirectSupported) != nil {
			t.Errorf("REDIRECT_SUPPORTED only in the request")
		}
		// A policy without AES-GCM-128 fails and says why.
		p := DefaultIKEPolicy()
		p.Encr = []EncrAlg{{EncrChaCha20Poly1305, 0}}
		_, err = p.Select(sa.Proposals)
		want := "ike: no proposal chosen: proposal 1: no acceptable ENCR: offered [AES_GCM_16_128], accept [CHACHA20_POLY1305]"
		if err == nil || err.Error() != want {
			t.Errorf("err %v, want %s", err, want)
		}
	})
}
