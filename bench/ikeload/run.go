package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// loader is one run: the transport, the engine over it, and the
// handshakes.
type loader struct {
	cfg       *config
	cr        *credentials
	tr        *transport
	eng       *ike.Engine
	rec       *recorder
	log       *slog.Logger
	held      sync.Map // ike.SAID → struct{}: SAs kept up for -hold
	nHeld     atomic.Int64
	stopServe context.CancelFunc
	served    chan error
	closeOnce sync.Once
	closeErr  error
	// progress is where run says it is holding the SAs (nil: nowhere).
	progress io.Writer
	// keepHeld leaves the SAs held with -hold up when run returns, for
	// the caller to look at the responder and then deleteHeld.
	keepHeld bool
}

// newLoader opens the sockets (in the calling thread's network namespace)
// and the engine. Close it.
func newLoader(ctx context.Context, cfg *config, log *slog.Logger) (*loader, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	cr, err := cfg.credentials()
	if err != nil {
		return nil, err
	}
	tr, err := listenTransport(ctx, cfg.ikePort, cfg.nattPort)
	if err != nil {
		return nil, err
	}
	eng, err := ike.NewEngine(ike.EngineConfig{
		Credentials: cr.creds,
		Keys:        cr.keys,
		Installer:   &nullInstaller{},
		Sender:      tr,
		Logger:      log,
		IKE:         cr.ikePol,
		IKEPort:     tr.ports[0],
		NATTPort:    tr.ports[1],
		GiveUp:      cfg.timeout,
	})
	if err != nil {
		tr.close()
		return nil, fmt.Errorf("IKE engine: %w", err)
	}
	l := &loader{cfg: cfg, cr: cr, tr: tr, eng: eng, rec: newRecorder(), log: log, served: make(chan error, 1)}
	var serveCtx context.Context
	serveCtx, l.stopServe = context.WithCancel(context.Background())
	go func() { l.served <- tr.serve(serveCtx, cfg.workers, eng.HandlePacket) }()
	return l, nil
}

// close closes the engine (which walks away from the SAs still up) and
// the sockets. It returns the error that ended reading, if any. It is
// safe to call twice.
func (l *loader) close() error {
	l.closeOnce.Do(func() {
		l.eng.Close()
		l.stopServe()
		l.closeErr = <-l.served
	})
	return l.closeErr
}

// run starts the handshakes as the config says and returns the report.
func (l *loader) run(ctx context.Context) (*report, error) {
	c := l.cfg

	runCtx := ctx
	if c.duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, c.duration)
		defer cancel()
	}
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range c.concurrency {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if c.count > 0 && i >= c.count {
					return
				}
				if c.rate > 0 {
					at := start.Add(time.Duration(float64(i) / c.rate * float64(time.Second)))
					if !sleepUntil(runCtx, at) {
						return
					}
				}
				if runCtx.Err() != nil {
					return
				}
				l.handshake(ctx, i)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rep := &report{
		Target: c.target.String(), Auth: string(c.auth), Kex: string(c.kex),
		Sources: min(l.rec.started, c.hosts()), Concurrency: c.concurrency, Rate: c.rate,
		Rekeys: c.rekeys, Held: c.hold > 0,
	}
	l.rec.fill(rep, took)
	if c.hold > 0 && !l.keepHeld {
		if l.progress != nil {
			fmt.Fprintf(l.progress, "ikeload: %d IKE SAs up; holding them for %v\n", l.nHeld.Load(), c.hold)
		}
		sleepUntil(ctx, time.Now().Add(c.hold))
		l.deleteHeld()
	}
	return rep, nil
}

// handshake runs handshake i: IKE_SA_INIT and IKE_AUTH from its source
// address, the CHILD SA rekeys, and the delete unless SAs are held.
func (l *loader) handshake(ctx context.Context, i int) {
	c := l.cfg
	l.rec.start()
	hctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	t0 := time.Now()
	child, err := l.eng.Initiate(hctx, ike.InitiateOptions{
		Remote: c.target, Local: c.source(i), Auth: l.cr.auth, PeerAuth: l.cr.peerAuth, Mode: ike.ModeTunnel,
	})
	if err != nil {
		l.rec.fail(reason(err), err)
		return
	}
	spi := child.SPIIn
	for r := range c.rekeys {
		if err := l.eng.RekeyChild(hctx, spi, ike.DHNone); err != nil {
			l.rec.fail(failRekey, fmt.Errorf("rekey %d of CHILD SA %08x from %v: %w", r+1, spi, c.source(i), err))
			l.delete(ctx, child.IKE)
			return
		}
		if spi, err = l.newestChild(child.IKE, spi); err != nil {
			l.rec.fail(failRekey, err)
			l.delete(ctx, child.IKE)
			return
		}
	}
	took := time.Since(t0)
	if c.hold > 0 {
		l.held.Store(child.IKE, struct{}{})
		l.nHeld.Add(1)
		l.rec.ok(took)
		return
	}
	if err := l.delete(ctx, child.IKE); err != nil {
		l.rec.fail(failDelete, err)
		return
	}
	l.rec.ok(took)
}

// newestChild returns the CHILD SA of IKE SA id that replaced old.
func (l *loader) newestChild(id ike.SAID, old uint32) (uint32, error) {
	for _, sa := range l.eng.SAs() {
		if sa.ID != id {
			continue
		}
		for _, ch := range sa.Children {
			if ch.SPIIn != old {
				return ch.SPIIn, nil
			}
		}
	}
	return 0, fmt.Errorf("no CHILD SA replaced %08x after its rekey", old)
}

func (l *loader) delete(ctx context.Context, id ike.SAID) error {
	dctx, cancel := context.WithTimeout(ctx, l.cfg.timeout)
	defer cancel()
	return l.eng.DeleteIKE(dctx, id)
}

// deleteHeld deletes the held SAs, concurrency at a time.
func (l *loader) deleteHeld() {
	ids := make(chan ike.SAID)
	var wg sync.WaitGroup
	for range l.cfg.concurrency {
		wg.Go(func() {
			for id := range ids {
				l.delete(context.Background(), id)
			}
		})
	}
	l.held.Range(func(k, _ any) bool {
		ids <- k.(ike.SAID)
		return true
	})
	close(ids)
	wg.Wait()
}

func sleepUntil(ctx context.Context, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// nullInstaller hands out SPIs and installs nothing: the initiators are
// load, not a data plane.
type nullInstaller struct{ spi atomic.Uint32 }

func (n *nullInstaller) AllocSPI(context.Context, netip.Addr, netip.Addr) (uint32, error) {
	return 0x1000 + n.spi.Add(1), nil
}
func (n *nullInstaller) Install(context.Context, ike.ChildSA) error { return nil }
func (n *nullInstaller) Delete(context.Context, ike.ChildSA) error  { return nil }

var errNoHandshake = errors.New("no handshake succeeded")
