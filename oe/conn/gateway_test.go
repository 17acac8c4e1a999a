package conn_test

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/kernel/fake"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/tunnel"
	"github.com/oemesh/oemesh/policygroups"
)

// gateway is a set of conns over an engine wired by hand, as
// oe/dispatch wires them but without OE, so that a test can step in
// before the conns see a hook: childUp, when set, runs in place of the
// engine's OnChildUp and decides when the conns get it.
type gateway struct {
	engine  *ike.Engine
	conns   *conn.Conns
	dp      *fake.Dataplane
	tunnels *tunnel.Table
	childUp func(ike.ChildSAInfo)
}

// Engine lets a hub deliver the gateway's datagrams.
func (g *gateway) Engine() *ike.Engine { return g.engine }

// newGateway is a PSK gateway whose engine talks through sender.
func newGateway(t *testing.T, sender ike.Sender) *gateway {
	t.Helper()
	return newGatewayLog(t, sender, nil)
}

// newGatewayLog is newGateway whose conns log to log (nil: nowhere).
func newGatewayLog(t *testing.T, sender ike.Sender, log *slog.Logger) *gateway {
	t.Helper()
	g := &gateway{dp: fake.New(time.Now), tunnels: &tunnel.Table{}}
	e, err := ike.NewEngine(ike.EngineConfig{
		Credentials: ike.Credentials{PSK: func(ike.Identity) []byte { return pskKey }},
		Sender:      sender, GiveUp: 2 * time.Second,
		Policy: gatewayPolicy{g}, Installer: gatewayInstaller{g},
		OnChildUp: func(info ike.ChildSAInfo) {
			if g.childUp != nil {
				g.childUp(info)
				return
			}
			g.conns.OnChildUp(info)
		},
		OnChildDown: func(info ike.ChildSAInfo, err error) { g.conns.OnChildDown(info, err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	g.engine = e
	g.conns = conn.New(conn.Config{Logger: log}, g.dp, e, g.tunnels, noTraps{})
	t.Cleanup(func() {
		g.conns.Close()
		e.Close()
	})
	return g
}

// gatewayPolicy is the conns' answer to every peer; none is OE's.
type gatewayPolicy struct{ g *gateway }

func (p gatewayPolicy) AcceptAuth(_ context.Context, req ike.AuthRequest) error {
	if handled, err := p.g.conns.AcceptAuth(req); handled {
		return err
	}
	return conn.ErrRefused
}

func (p gatewayPolicy) Child(_ context.Context, req ike.ChildRequest) (ike.ChildDecision, error) {
	if handled, dec, err := p.g.conns.Child(req); handled {
		return dec, err
	}
	return ike.ChildDecision{}, conn.ErrRefused
}

// gatewayInstaller installs every CHILD SA for its conn.
type gatewayInstaller struct{ g *gateway }

func (i gatewayInstaller) AllocSPI(ctx context.Context, src, dst netip.Addr) (uint32, error) {
	return i.g.dp.AllocSPI(ctx, src, dst)
}

func (i gatewayInstaller) Install(ctx context.Context, sa ike.ChildSA) error {
	name := i.g.conns.Owner(sa)
	if name == "" {
		return conn.ErrRefused
	}
	return i.g.conns.Install(ctx, sa, name)
}

func (i gatewayInstaller) Delete(ctx context.Context, sa ike.ChildSA) error {
	return i.g.conns.Delete(ctx, sa)
}

// noTraps lends no traps: the test's conns are auto=add.
type noTraps struct{}

func (noTraps) Policy() *policygroups.Policy                { return nil }
func (noTraps) Claim(context.Context, netip.Prefix) error   { return nil }
func (noTraps) Release(context.Context, netip.Prefix) error { return nil }
