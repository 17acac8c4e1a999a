package ike

import (
	"path/filepath"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// TestResponderAnswersCapturedPeers feeds the IKE_SA_INIT requests that
// strongSwan and Libreswan really sent (testdata/captures) to our
// responder: it must pick a proposal without an extra round trip where
// the real responder did, with the same cipher and DH group (the PRF may
// differ: Libreswan offers SHA2-512 first, we prefer SHA2-256), and it
// must mirror the OE vendor ID.
func TestResponderAnswersCapturedPeers(t *testing.T) {
	for _, file := range captureFiles(t) {
		msgs, _ := readCaptureIKE(t, file)
		var req, resp *captured
		for i := range msgs {
			m := msgs[i].msg
			if m.Exchange != wire.IKESAInit {
				continue
			}
			if !m.IsResponse() && req == nil {
				req = &msgs[i]
			}
			if m.IsResponse() && m.Get(wire.PayloadSA) != nil && resp == nil {
				resp = &msgs[i]
			}
		}
		if req == nil || resp == nil {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			n := newMemNet(t)
			p := n.addPeer(req.dst.Addr(), newEd25519(t), nil)
			p.e.HandlePacket(req.raw, req.dst, req.src)
			if len(n.queue) != 1 {
				t.Fatalf("%d answers", len(n.queue))
			}
			ours, err := wire.ParseMessage(n.queue[0].data)
			if err != nil {
				t.Fatal(err)
			}
			if err := errorNotify(ours); err != nil {
				t.Fatalf("answered %v", err)
			}
			want := resp.msg.Get(wire.PayloadSA).(*wire.SA).Proposals[0]
			got := ours.Get(wire.PayloadSA).(*wire.SA).Proposals[0]
			if transforms(got, TransformENCR, TransformDH) != transforms(want, TransformENCR, TransformDH) {
				t.Errorf("we chose %s, the real responder %s", transforms(got), transforms(want))
			}
			for _, nt := range []wire.NotifyType{wire.NotifyFragmentationSupported, wire.NotifyNATDetectionSourceIP, wire.NotifyNATDetectionDestinationIP} {
				if ours.Notify(nt) == nil {
					t.Errorf("no %v", nt)
				}
			}
			if hasVendorID(req.msg, wire.VendorIDOpportunisticIPsec) != hasVendorID(ours, wire.VendorIDOpportunisticIPsec) {
				t.Error("Opportunistic IPsec vendor ID not mirrored")
			}
			if st := p.e.Stats(); st.HalfOpen != 1 {
				t.Errorf("half open %d", st.HalfOpen)
			}
		})
	}
}

func transforms(p Proposal, types ...TransformType) string {
	var s string
	for _, t := range p.Transforms {
		for _, x := range types {
			if t.Type == x {
				s += t.String() + " "
			}
		}
	}
	return s
}
