package main

import (
	"context"
	"testing"

	"github.com/oemesh/oemesh/internal/clock/clocktest"
	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/fake"
)

// TestKeyedDataplane: the keys of installed pairs are listed, both
// directions, from copies of what was installed, until the pair is
// deleted; a failed install is not listed.
func TestKeyedDataplane(t *testing.T) {
	ctx := context.Background()
	dp := fake.New(clocktest.New().Now)
	k := newKeyedDataplane(dp, nil)
	p := testPair(0x1000)
	p.In.AEAD, p.Out.AEAD = kernel.AESGCM16, kernel.AESGCM16
	p.In.Key, p.Out.Key = []byte{1, 2, 3}, []byte{4, 5, 6}
	if err := k.InstallSA(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.In.Key[0] = 9 // the caller's slice: the table keeps its own copy
	got := k.espKeys()
	if len(got) != 2 || got[0].SPI != "00001000" || got[0].Key != "010203" || got[0].Src != "192.0.2.2" || got[0].AEAD != "aes-gcm-16" ||
		got[1].SPI != "00001001" || got[1].Key != "040506" || got[1].Dst != "192.0.2.2" {
		t.Errorf("keys %+v", got)
	}
	dp.FailNext("InstallSA", context.Canceled)
	if err := k.InstallSA(ctx, testPair(0x2000)); err == nil {
		t.Fatal("the failed install succeeded")
	}
	if n := len(k.espKeys()); n != 2 {
		t.Errorf("%d SAs listed after a failed install, want 2", n)
	}
	if err := k.DeleteSA(ctx, p.ID(), kernel.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(k.espKeys()); n != 0 {
		t.Errorf("%d SAs listed after the delete", n)
	}

	// A pair the data plane removed by itself is forgotten at the
	// DeleteSA that fails for it; one that a delete failed to remove is
	// kept.
	q := testPair(0x3000)
	if err := k.InstallSA(ctx, q); err != nil {
		t.Fatal(err)
	}
	dp.FailNext("DeleteSA", context.DeadlineExceeded)
	if err := k.DeleteSA(ctx, q.ID(), kernel.DeleteOptions{}); err == nil || len(k.espKeys()) != 2 {
		t.Errorf("failed delete: %v, %d SAs listed; want the error and 2", err, len(k.espKeys()))
	}
	if err := dp.DeleteSA(ctx, q.ID(), kernel.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := k.DeleteSA(ctx, q.ID(), kernel.DeleteOptions{}); err == nil || len(k.espKeys()) != 0 {
		t.Errorf("delete of a pair gone: %v, %d SAs listed; want the error and none", err, len(k.espKeys()))
	}
}

// fakeLister is a data plane's own list of its SAs' keys.
type fakeLister []kernel.SA

func (f fakeLister) ESPKeys() []kernel.SA { return f }

// TestKeyedDataplaneLister: over a data plane that lists its own keys
// (the userspace one), the table keeps no copies and lists the data
// plane's, in SPI order.
func TestKeyedDataplaneLister(t *testing.T) {
	ctx := context.Background()
	dp := fake.New(clocktest.New().Now)
	p := testPair(0x1000)
	p.In.AEAD, p.Out.AEAD = kernel.AESGCM16, kernel.AESGCM16
	p.In.Key, p.Out.Key = []byte{1, 2, 3}, []byte{4, 5, 6}
	k := newKeyedDataplane(dp, fakeLister{p.Out, p.In})
	if err := k.InstallSA(ctx, p); err != nil {
		t.Fatal(err)
	}
	if n := len(k.pairs); n != 0 {
		t.Errorf("%d pairs copied, want none: the data plane lists them", n)
	}
	got := k.espKeys()
	if len(got) != 2 || got[0].SPI != "00001000" || got[0].Key != "010203" || got[0].Src != "192.0.2.2" || got[0].AEAD != "aes-gcm-16" ||
		got[1].SPI != "00001001" || got[1].Key != "040506" || got[1].Dst != "192.0.2.2" {
		t.Errorf("keys %+v", got)
	}
	if err := k.DeleteSA(ctx, p.ID(), kernel.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}
