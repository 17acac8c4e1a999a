package userspace

import (
	"bytes"
	"context"
	"testing"

	"github.com/oemesh/oemesh/kernel"
)

// TestESPKeys: ESPKeys hands back both SAs of each installed pair as they
// were installed, key and salt included, also once an idle direction
// has let its cipher state go; a deleted pair is gone from the list.
func TestESPKeys(t *testing.T) {
	d := bareDevice()
	d.socks = testSockets()
	ctx := context.Background()
	spa, _ := testPairs(t, addrA, addrB, kernel.ModeTransport, kernel.AESGCM16, false)
	if err := d.InstallSA(ctx, spa); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.pairs {
		p.in.state.Store(nil) // idle: the cipher state released, the key kept
	}
	got := d.ESPKeys()
	if len(got) != 2 {
		t.Fatalf("%d SAs listed, want 2", len(got))
	}
	for _, want := range []kernel.SA{spa.Out, spa.In} {
		found := false
		for _, sa := range got {
			if sa.SPI == want.SPI {
				found = true
				if sa.Src != want.Src || sa.Dst != want.Dst || sa.AEAD != want.AEAD || !bytes.Equal(sa.Key, want.Key) || sa.ESN != want.ESN {
					t.Errorf("SA %#x listed as %+v, installed as %+v", want.SPI, sa, want)
				}
			}
		}
		if !found {
			t.Errorf("SA %#x not listed", want.SPI)
		}
	}
	got[0].Key[0] ^= 0xff // a copy: the pair's key is untouched
	for _, sa := range d.ESPKeys() {
		if sa.SPI == got[0].SPI && bytes.Equal(sa.Key, got[0].Key) {
			t.Error("ESPKeys hands out the pair's own key octets")
		}
	}
	if err := d.DeleteSA(ctx, spa.ID(), kernel.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(d.ESPKeys()); n != 0 {
		t.Errorf("%d SAs listed after the delete, want none", n)
	}
}
