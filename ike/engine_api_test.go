package ike

import (
	"context"
	"errors"
	"net/netip"
	"runtime"
	"testing"
	"time"
)

// async runs a blocking public method in a goroutine and delivers
// datagrams until it returns. Nothing here waits on protocol time: the
// fake clock does not move, so the exchange must complete on deliveries
// alone.
func (n *memNet) async(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	guard := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			n.drain()
			return err
		default:
		}
		if !n.deliverOne() {
			if time.Now().After(guard) {
				t.Fatal("public call did not return")
			}
			runtime.Gosched()
		}
	}
}

func TestPublicAPI(t *testing.T) {
	n, a, b := newPair(t, nil, nil, nil)
	ctx := context.Background()
	var info ChildSAInfo
	err := n.async(t, func() (err error) {
		info, err = a.e.Initiate(ctx, InitiateOptions{Mode: ModeTunnel, Remote: netip.AddrPortFrom(addrB, 500), Local: addrA, Auth: AuthKindPubkey})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if info.Trace == nil || len(info.Trace.Exchanges) != 2 {
		t.Errorf("trace %+v", info.Trace)
	}
	sas := a.e.SAs()
	if len(sas) != 1 || len(sas[0].Children) != 1 || sas[0].Children[0].SPIIn != info.SPIIn || sas[0].ID != info.IKE {
		t.Fatalf("SAs: %+v", sas)
	}
	if err := n.async(t, func() error { return a.e.RekeyChild(ctx, info.SPIIn, DHCurve25519) }); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, a, b, 1)
	spi := a.onlyChild(t)
	if err := n.async(t, func() error { return a.e.RekeyIKE(ctx, info.IKE) }); err != nil {
		t.Fatal(err)
	}
	id := a.e.SAs()[0].ID
	if id == info.IKE {
		t.Error("IKE SA not replaced")
	}
	if err := n.async(t, func() error { return b.e.DeleteChild(ctx, b.onlyChild(t)) }); err != nil {
		t.Fatal(err)
	}
	checkConsistent(t, a, b, 0)
	if err := n.async(t, func() error { return a.e.DeleteIKE(ctx, id) }); err != nil {
		t.Fatal(err)
	}
	if len(a.e.SAs())+len(b.e.SAs()) != 0 {
		t.Errorf("left: %v %v", a.e.SAs(), b.e.SAs())
	}
	// Errors for things that are not there.
	if err := a.e.DeleteChild(ctx, spi); err == nil {
		t.Error("DeleteChild of a gone SA succeeded")
	}
	if err := a.e.RekeyIKE(ctx, id); err == nil {
		t.Error("RekeyIKE of a gone SA succeeded")
	}
	if err := a.e.DeleteIKE(ctx, id); err == nil {
		t.Error("DeleteIKE of a gone SA succeeded")
	}
	if err := a.e.RekeyChild(ctx, spi, DHNone); err == nil {
		t.Error("RekeyChild of a gone SA succeeded")
	}
	// A cancelled Initiate returns the context's error and leaves nothing.
	cctx, cancel := context.WithCancel(ctx)
	n.filter = func(*memPacket) int { cancel(); return 0 }
	_, err = a.e.Initiate(cctx, InitiateOptions{Mode: ModeTunnel, Remote: netip.AddrPortFrom(addrB, 500), Local: addrA, Auth: AuthKindNull})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Initiate: %v", err)
	}
	if len(a.e.SAs()) != 0 {
		t.Errorf("cancelled Initiate left %v", a.e.SAs())
	}
}

func TestInitiateOptionErrors(t *testing.T) {
	n := newMemNet(t)
	p := n.addPeer(addrA, nil, func(c *EngineConfig) { c.Credentials = Credentials{} })
	ctx := context.Background()
	remote := netip.AddrPortFrom(addrB, 500)
	for name, opts := range map[string]InitiateOptions{
		"no remote":       {Mode: ModeTunnel, Local: addrA},
		"pubkey, no key":  {Mode: ModeTunnel, Remote: remote, Local: addrA, Auth: AuthKindPubkey},
		"psk, no secret":  {Mode: ModeTunnel, Remote: remote, Local: addrA, Auth: AuthKindPSK},
		"no local, no TS": {Mode: ModeTunnel, Remote: remote, Auth: AuthKindNull},
		"bad IKE policy":  {Mode: ModeTunnel, Remote: remote, Local: addrA, Auth: AuthKindNull, IKE: Policy{Protocol: ProtocolIKE}},
		"bad ESP policy":  {Mode: ModeTunnel, Remote: remote, Local: addrA, Auth: AuthKindNull, ESP: Policy{Protocol: ProtocolESP}},
		"no mode":         {Remote: remote, Local: addrA, Auth: AuthKindNull},
	} {
		if _, err := p.e.Initiate(ctx, opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if len(n.queue) != 0 {
		t.Errorf("%d datagrams sent for refused options", len(n.queue))
	}
	for name, cfg := range map[string]EngineConfig{
		"no sender":    {Installer: newFakeInstaller(0)},
		"no installer": {Sender: &memSender{n: n, self: addrA}},
		"bad IKE":      {Sender: &memSender{n: n, self: addrA}, Installer: newFakeInstaller(0), IKE: Policy{Protocol: ProtocolIKE, Encr: []EncrAlg{{EncrAESGCM16, 100}}}},
		"ESP as IKE":   {Sender: &memSender{n: n, self: addrA}, Installer: newFakeInstaller(0), IKE: DefaultESPPolicy()},
		"bad PFS":      {Sender: &memSender{n: n, self: addrA}, Installer: newFakeInstaller(0), RekeyPFS: 99},
	} {
		if _, err := NewEngine(cfg); err == nil {
			t.Errorf("NewEngine %s: accepted", name)
		}
	}
}
