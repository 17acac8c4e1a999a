package oe

import (
	"crypto"
	"errors"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// newTestOE is an orchestrator over a fake data plane and fake DNS, with an
// engine whose packets go to sender.
func newTestOE(t *testing.T, cfg Config, dns KeySource, sender ike.Sender, key crypto.Signer) (*OE, *fake.Dataplane) {
	t.Helper()
	dp := fake.New(time.Now)
	if sender == nil {
		sender = oetest.Discard{}
	}
	o, err := New(cfg, dp, dns, ike.EngineConfig{
		Credentials: ike.Credentials{Signer: key},
		Sender:      sender,
		GiveUp:      2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o, dp
}

func hasString(l []string, sub string) bool {
	for _, s := range l {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// pipe delivers one engine's packets to another's, as UDP would.
type pipe struct{ to atomic.Pointer[OE] }

func (p *pipe) Send(pkt []byte, local, remote netip.AddrPort) error {
	o := p.to.Load()
	if o == nil {
		return errors.New("no peer")
	}
	b := append([]byte(nil), pkt...)
	go o.Engine().HandlePacket(b, remote, local)
	return nil
}

// hub delivers datagrams between several orchestrators by address.
type hub struct{ m map[netip.Addr]*OE }

type hubPort struct{ h *hub }

func (p hubPort) Send(pkt []byte, local, remote netip.AddrPort) error {
	o := p.h.m[remote.Addr()]
	if o == nil {
		return errors.New("no host at " + remote.Addr().String())
	}
	b := append([]byte(nil), pkt...)
	go o.Engine().HandlePacket(b, remote, local)
	return nil
}
