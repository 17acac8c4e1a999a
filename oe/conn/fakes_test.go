package conn_test

import (
	"crypto"
	"errors"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe"
	"github.com/oemesh/oemesh/oe/dispatch"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// newTestStack is OE and conns behind a dispatcher, over a fake data plane
// and fake DNS, with an engine whose packets go to sender.
func newTestStack(t testing.TB, cfg oe.Config, dns oe.KeySource, sender ike.Sender, key crypto.Signer) (*dispatch.Dispatcher, *fake.Dataplane) {
	t.Helper()
	dp := fake.New(time.Now)
	if sender == nil {
		sender = oetest.Discard{}
	}
	d, err := dispatch.New(dispatch.Config{OE: cfg}, dp, dns, ike.EngineConfig{
		Credentials: ike.Credentials{Signer: key},
		Sender:      sender,
		GiveUp:      2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dp
}

// newPSKStack is a stack whose engine authenticates with pskKey.
func newPSKStack(t testing.TB, id ike.Identity, sender ike.Sender) (*dispatch.Dispatcher, *fake.Dataplane) {
	t.Helper()
	psk := func(ike.Identity) []byte { return pskKey }
	dp := fake.New(time.Now)
	d, err := dispatch.New(dispatch.Config{}, dp, oetest.NewDNS(), ike.EngineConfig{
		Credentials: ike.Credentials{ID: id, PSK: psk}, Sender: sender, GiveUp: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, dp
}

// pipe delivers one engine's packets to another's, as UDP would.
type pipe struct {
	to atomic.Pointer[dispatch.Dispatcher]
}

func (p *pipe) Send(pkt []byte, local, remote netip.AddrPort) error {
	d := p.to.Load()
	if d == nil {
		return errors.New("no peer")
	}
	b := append([]byte(nil), pkt...)
	go d.Engine().HandlePacket(b, remote, local)
	return nil
}

// hub delivers datagrams between several stacks by address.
type hub struct {
	m map[netip.Addr]node
}

// node is a host on a hub: a stack (*dispatch.Dispatcher) or an engine
// wired by hand.
type node interface{ Engine() *ike.Engine }

type hubPort struct{ h *hub }

func (p hubPort) Send(pkt []byte, local, remote netip.AddrPort) error {
	d := p.h.m[remote.Addr()]
	if d == nil {
		return errors.New("no host at " + remote.Addr().String())
	}
	b := append([]byte(nil), pkt...)
	go d.Engine().HandlePacket(b, remote, local)
	return nil
}
