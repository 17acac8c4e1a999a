package userspace

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/kernel"
)

// Device is the userspace data plane. Create it with New; it implements
// kernel.Dataplane.
type Device struct {
	cfg   Config
	log   *slog.Logger
	clock clock.Clock

	tun    tun.Device
	tunInf tunInfo
	router *router
	guard  *guard // outlives the process (guard.go)
	socks  *sockets
	pools  *pools

	tbl   atomic.Pointer[tables] // what the data path reads
	drops dropCounters
	hold  *holdTable

	// routeMu orders every change of the routes in our table, of traps,
	// saRoutes and pairs (InstallSA, DeleteSA, SetTrap, RemoveTrap, the
	// expiry loop, Close). It is taken before mu: an SA's netlink route is
	// added and removed with routeMu held and mu released, so AllocSPI,
	// SACounters and the hold queue do not wait for the kernel.
	routeMu sync.Mutex

	mu    sync.Mutex // control plane state below; never taken per packet
	traps map[netip.Prefix]kernel.Group
	// saRoutes counts installed pairs per remote selector (saroute.go).
	// Written with routeMu held (not mu): read it with routeMu held.
	saRoutes map[netip.Prefix]int
	// saSkipped is the prefixes of saRoutes left unrouted because a trap
	// into the TUN device covers them (saroute.go); routeMu as saRoutes.
	saSkipped map[netip.Prefix]struct{}
	pairs     map[kernel.SAPairID]*pair
	// pairsPeak is the most pairs held since the map was made (shrink.go).
	pairsPeak int
	// inSPIs counts the pairs by inbound SPI, for AllocSPI: a scan of
	// pairs made every allocation O(N) in the SAs installed.
	inSPIs map[uint32]int32 // int32: 8-octet slots, one per peer
	shunts map[kernel.Flow]*shunt
	spis   map[uint32]spiReservation // reserved by AllocSPI
	order  uint64

	acquires chan kernel.Acquire
	expires  chan kernel.Expire
	wake     chan struct{} // a byte limit was crossed: check lifetimes now

	encQ, sendQ chan *outBatch // outbound: seal in parallel, send in order
	outFree     chan *outBatch // the TUN reader's finished batches, for its next reads (trim.go)
	decQ, recvQ chan *inBatch  // inbound: open in parallel, write in order
	putOut      func(*outBatch)
	// noWorkers: Workers is 1, so no worker goroutines run and every
	// batch is sealed or opened by the goroutine that read it.
	noWorkers bool

	done      chan struct{}
	wg        sync.WaitGroup
	workers   sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

var _ kernel.Dataplane = (*Device)(nil)

// New creates the TUN device, our sockets, routing table and rules in the
// network namespace of the calling OS thread (tests call it inside
// netnstest's Do), removes what a previous run left in our table, and
// starts the data path. Close undoes all of it. The guard table is put in
// place first and never flushed: what an earlier run left there keeps
// blocking until SetTrap replaces it or RemoveStaleTraps removes it.
func New(ctx context.Context, c Config) (*Device, error) {
	cfg, err := c.withDefaults()
	if err != nil {
		return nil, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ns, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("userspace: current network namespace: %w", err)
	}
	defer ns.Close()
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("userspace: netlink: %w", err)
	}
	d := &Device{
		cfg: cfg, log: cfg.Logger, clock: cfg.Clock, pools: newPools(),
		traps:    make(map[netip.Prefix]kernel.Group),
		saRoutes: make(map[netip.Prefix]int),
		pairs:    make(map[kernel.SAPairID]*pair),
		inSPIs:   make(map[uint32]int32),
		shunts:   make(map[kernel.Flow]*shunt),
		spis:     make(map[uint32]spiReservation),
		acquires: make(chan kernel.Acquire, 1024),
		expires:  make(chan kernel.Expire, 256),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	d.hold = newHoldTable(&cfg)
	d.router = &router{nl: nl, table: cfg.Table, priority: cfg.RulePriority, mark: cfg.FwMark}
	fail := func(err error) (*Device, error) {
		if d.socks != nil {
			d.socks.close()
		}
		if d.tun != nil {
			_ = d.tun.Close()
		}
		_ = d.router.flush()
		d.router.rs.close()
		// The guard stays, as after a crash: a daemon that could not start
		// must not open what an earlier run kept blocked.
		nl.Close()
		return nil, fmt.Errorf("userspace: %w", err)
	}
	if d.router.rs, err = openRouteSock(); err != nil {
		return fail(err)
	}
	// The guard's rules go in before our own table is flushed, so that a
	// restart has no moment in which private prefixes reach main.
	if d.guard, err = openGuard(nl, cfg.GuardTable, cfg.GuardPriority, cfg.FwMark); err != nil {
		return fail(fmt.Errorf("guard: %w", err))
	}
	if err := d.router.flush(); err != nil {
		return fail(fmt.Errorf("reconcile: %w", err))
	}
	if d.tun, d.router.tunIndex, d.tunInf, err = openTUN(nl, cfg.TUNName, cfg.MTU, cfg.NoOffloads); err != nil {
		return fail(err)
	}
	if d.socks, err = openSockets(&cfg); err != nil {
		return fail(err)
	}
	if err := d.router.addRules(); err != nil {
		return fail(err)
	}
	d.publish()
	d.start()
	d.log.Info("userspace data plane up", "tun", cfg.TUNName, "tun_batch", d.tunInf.batch, "offloads", d.tunInf.offloads,
		"udp_gso", d.socks.gso.Load(), "udp_gro", d.socks.gro4 || d.socks.gro6,
		"table", cfg.Table, "fwmark", cfg.FwMark,
		"guard_table", cfg.GuardTable, "guard_stale", len(d.guard.stale), "guard_negotiating", cfg.GuardNegotiating)
	return d, nil
}

// start launches the goroutines of the data path. Each is owned by the
// Device and stops in Close.
func (d *Device) start() {
	n := d.cfg.Workers
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	d.encQ = make(chan *outBatch, 2*n)
	d.outFree = make(chan *outBatch, 4*cap(d.encQ)+2)
	d.sendQ = make(chan *outBatch, 2*n)
	d.decQ = make(chan *inBatch, 2*n)
	d.recvQ = make(chan *inBatch, 2*n)
	d.noWorkers = n == 1
	for range n {
		if d.noWorkers {
			break
		}
		d.workers.Add(2)
		go d.sealWorker()
		go d.openWorker()
	}
	d.workers.Add(2)
	go d.sendLoop()
	go d.tunWriteLoop()

	d.wg.Add(2)
	go d.tunReadLoop()
	go d.expireLoop()
	if d.cfg.GuardNegotiating {
		d.wg.Add(1)
		go d.guardHeldLoop()
	}
	d.startReceivers()
}

// Name is "userspace".
func (d *Device) Name() string { return "userspace" }

// Acquires delivers one event per new flow that hit a trap with no SA.
func (d *Device) Acquires() <-chan kernel.Acquire { return d.acquires }

// Expires delivers soft and hard SA expiry and shunt expiry.
func (d *Device) Expires() <-chan kernel.Expire { return d.expires }

// TUNName returns the TUN device's name.
func (d *Device) TUNName() string { return d.cfg.TUNName }

// FwMark returns the mark the daemon's own sockets must carry (SO_MARK).
func (d *Device) FwMark() uint32 { return d.cfg.FwMark }

// SocketControl returns a net.ListenConfig / net.Dialer Control function
// that sets our fwmark on a socket, so that IKE and DNS traffic to trapped
// prefixes bypasses the TUN device instead of waiting for an SA.
func (d *Device) SocketControl() func(network, address string, c syscall.RawConn) error {
	return markControl(d.cfg.FwMark, nil)
}

// Stats returns the device-wide counters.
func (d *Device) Stats() Stats {
	flows, pkts := d.hold.size()
	d.mu.Lock()
	n, ciphers := len(d.pairs), 0
	for _, p := range d.pairs {
		if p.in.built() {
			ciphers++
		}
		if p.out.built() {
			ciphers++
		}
	}
	d.mu.Unlock()
	st := Stats{Dropped: d.drops.snapshot(), HeldFlows: flows, HeldPackets: pkts, SAs: n, Ciphers: ciphers,
		TUNBatch: d.tunInf.batch, Offloads: d.tunInf.offloads}
	if d.socks != nil {
		st.UDPGSO, st.UDPGRO = d.socks.gso.Load(), d.socks.gro4 || d.socks.gro6
	}
	return st
}

// drop counts a drop on the device and, when known, on the pair.
func (d *Device) drop(p *pair, r dropReason, n uint64) {
	d.drops.add(r, n)
	if p != nil {
		p.drop(r, n)
	}
}

// publish builds and stores a new snapshot of the tables. Callers hold d.mu
// (or are New, before anything runs).
func (d *Device) publish() {
	d.tbl.Store(buildTables(d.traps, d.pairs, d.shunts))
}

// update publishes the snapshot f makes from the current one (snapshot.go).
// Callers hold d.mu.
func (d *Device) update(f func(*tables) *tables) {
	d.tbl.Store(f(d.tbl.Load()))
}

func (d *Device) closed() error {
	select {
	case <-d.done:
		return errors.New("userspace: data plane is closed")
	default:
		return nil
	}
}

// SetTrap routes prefix into the TUN device (private, private-or-clear),
// throws it back to the main tables (clear, clear-or-private) or
// blackholes it (block).
func (d *Device) SetTrap(ctx context.Context, t kernel.Trap) error {
	if err := d.closed(); err != nil {
		return err
	}
	if !t.Prefix.IsValid() {
		return fmt.Errorf("userspace: set trap: invalid prefix %v", t.Prefix)
	}
	p := t.Prefix.Masked()
	d.routeMu.Lock()
	defer d.routeMu.Unlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	// The guard first: whatever order, a moment's mismatch only drops.
	if err := d.guard.set(p, t.Group); err != nil {
		return fmt.Errorf("userspace: set trap %s: %w", p, err)
	}
	// Pairs' selectors this trap may uncover get their own routes first.
	if err := d.routeUncovered(p, t.Group, false); err != nil {
		return fmt.Errorf("userspace: set trap %s: %w", p, err)
	}
	if d.saRoutes[p] > 0 {
		// An installed SA routes exactly this prefix into the TUN
		// device; the trap takes over when the SA goes.
		d.traps[p] = t.Group
		d.update(func(t0 *tables) *tables { return t0.withTrap(p, t.Group) })
		return nil
	}
	if old, ok := d.traps[p]; ok && d.router.route(p, old).Type != d.router.route(p, t.Group).Type {
		if err := d.router.removeTrap(p, old); err != nil {
			return fmt.Errorf("userspace: set trap %s: %w", p, err)
		}
	}
	if err := d.router.setTrap(p, t.Group); err != nil {
		return fmt.Errorf("userspace: set trap %s: %w", p, err)
	}
	d.traps[p] = t.Group
	d.update(func(t0 *tables) *tables { return t0.withTrap(p, t.Group) })
	return nil
}

// RemoveTrap removes the trap for exactly this prefix. Packets held for
// flows that no trap covers any more are dropped: nothing will negotiate
// for them (the daemon abandons those negotiations), and their hold ends
// now rather than at the hold timeout.
func (d *Device) RemoveTrap(ctx context.Context, prefix netip.Prefix) error {
	if err := d.closed(); err != nil {
		return err
	}
	p := prefix.Masked()
	d.routeMu.Lock()
	defer d.routeMu.Unlock()
	d.mu.Lock()
	g, ok := d.traps[p]
	if !ok {
		d.mu.Unlock()
		return fmt.Errorf("userspace: remove trap %s: no such trap", p)
	}
	if err := d.routeUncovered(p, g, true); err != nil {
		d.mu.Unlock()
		return fmt.Errorf("userspace: remove trap %s: %w", p, err)
	}
	if d.saRoutes[p] == 0 {
		if err := d.router.removeTrap(p, g); err != nil {
			d.mu.Unlock()
			return fmt.Errorf("userspace: remove trap %s: %w", p, err)
		}
	}
	if err := d.guard.remove(p); err != nil {
		d.mu.Unlock()
		return fmt.Errorf("userspace: remove trap %s: %w", p, err)
	}
	delete(d.traps, p)
	d.update(func(t *tables) *tables { return t.withoutTrap(p) })
	t := d.tbl.Load()
	orphans := d.hold.take(func(f kernel.Flow) bool {
		if !p.Contains(f.Dst) {
			return false
		}
		_, _, covered := t.traps.LookupPrefixLPM(netip.PrefixFrom(f.Dst, f.Dst.BitLen()))
		return !covered
	})
	d.mu.Unlock()
	for _, r := range orphans {
		d.drop(nil, dropNoTrap, uint64(len(r.pkts)))
		for _, pk := range r.pkts {
			d.pools.put(pk.buf)
		}
	}
	return nil
}

// RemoveStaleTraps removes the guard routes an earlier run left for
// prefixes that no trap set since New: the daemon calls it once its policy
// is loaded. Until then they keep blocking, which is the safe side.
func (d *Device) RemoveStaleTraps(ctx context.Context) (int, error) {
	if err := d.closed(); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n, err := d.guard.removeStale()
	if err != nil {
		return n, fmt.Errorf("userspace: %w", err)
	}
	return n, nil
}

// spiReservation is an SPI handed out by AllocSPI and not yet installed.
type spiReservation struct {
	peer  netip.Addr
	until time.Time
}

// AllocSPI reserves a random inbound SPI, unique on this data plane, for
// SPITimeout.
func (d *Device) AllocSPI(ctx context.Context, src, dst netip.Addr) (uint32, error) {
	if err := d.closed(); err != nil {
		return 0, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	inUse := func(spi uint32) bool {
		_, reserved := d.spis[spi]
		return reserved || d.inSPIs[spi] > 0
	}
	var b [4]byte
	for range 64 {
		if _, err := crand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("userspace: alloc SPI %s → %s: %w", src, dst, err)
		}
		spi := binary.BigEndian.Uint32(b[:])
		if spi < 256 || inUse(spi) {
			continue
		}
		d.spis[spi] = spiReservation{peer: src, until: d.clock.Now().Add(d.cfg.SPITimeout)}
		return spi, nil
	}
	return 0, fmt.Errorf("userspace: alloc SPI %s → %s: no free SPI found", src, dst)
}

// InstallSA installs (or, for the same pair ID, replaces) an SA pair and
// releases packets held for flows it carries.
func (d *Device) InstallSA(ctx context.Context, sp kernel.SAPair) error {
	if err := d.closed(); err != nil {
		return err
	}
	d.routeMu.Lock()
	d.mu.Lock()
	id := sp.ID()
	// The published tables index every installed pair by inbound SPI
	// (publish runs under d.mu after each change).
	if in := d.tbl.Load().in.get(sp.In.SPI); in != nil && in.pair.id != id {
		d.mu.Unlock()
		d.routeMu.Unlock()
		return fmt.Errorf("userspace: install SA pair peer %s: inbound SPI %#x already used by pair with peer %s", id.Peer, sp.In.SPI, in.pair.id.Peer)
	}
	d.order++
	p, err := newPair(sp, d.clock.Now(), d.order, d.socks)
	if err != nil {
		d.mu.Unlock()
		d.routeMu.Unlock()
		return err
	}
	p.deferOut.Store(sp.DeferOutbound)
	old, replaces := d.pairs[id]
	d.mu.Unlock()
	// The routes, outside d.mu: routeMu keeps pairs, traps and saRoutes
	// as they were, and the route is in place before the pair is
	// published, as before.
	if replaces {
		d.removeSARoutes(old.remote)
	}
	if err := d.addSARoutes(sp); err != nil {
		d.routeMu.Unlock()
		return fmt.Errorf("userspace: install SA pair peer %s: %w", id.Peer, err)
	}
	d.mu.Lock()
	d.putPair(id, p)
	d.pairsPeak = max(d.pairsPeak, len(d.pairs))
	delete(d.spis, sp.In.SPI)
	d.update(func(t *tables) *tables {
		if replaces {
			t = t.withoutPair(old)
		}
		return t.withPair(p)
	})
	released := d.hold.take(func(f kernel.Flow) bool { return p.matches(f.Src, f.Dst) })
	d.mu.Unlock()
	d.routeMu.Unlock()
	if d.log.Enabled(ctx, slog.LevelDebug) { // the hex SPIs cost allocations per SA otherwise
		d.log.Debug("SA pair installed", "peer", id.Peer, "in", fmt.Sprintf("%#x", id.InSPI), "out", fmt.Sprintf("%#x", id.OutSPI), "mode", sp.Mode, "released", len(released))
	}
	d.resolveHeld(released)
	return nil
}

// putPair and dropPair change pairs and keep inSPIs counting it. d.mu is
// held.
func (d *Device) putPair(id kernel.SAPairID, p *pair) {
	if _, ok := d.pairs[id]; !ok {
		if d.inSPIs == nil {
			d.inSPIs = map[uint32]int32{}
		}
		d.inSPIs[id.InSPI]++
	}
	d.pairs[id] = p
}

func (d *Device) dropPair(id kernel.SAPairID) {
	if _, ok := d.pairs[id]; !ok {
		return
	}
	delete(d.pairs, id)
	if n := d.inSPIs[id.InSPI]; n > 1 {
		d.inSPIs[id.InSPI] = n - 1
	} else {
		delete(d.inSPIs, id.InSPI)
	}
}

// DeleteSA removes both SAs of the pair. Its selectors then fall back to
// the trap (userspace has no separate policy to keep).
func (d *Device) DeleteSA(ctx context.Context, id kernel.SAPairID, opts kernel.DeleteOptions) error {
	if err := d.closed(); err != nil {
		return err
	}
	d.routeMu.Lock()
	defer d.routeMu.Unlock()
	d.mu.Lock()
	p, ok := d.pairs[id]
	if !ok {
		d.mu.Unlock()
		return fmt.Errorf("userspace: delete SA pair peer %s in %#x out %#x: no such pair", id.Peer, id.InSPI, id.OutSPI)
	}
	p.dead.Store(true)
	d.dropPair(id)
	d.pairs, d.pairsPeak = shrunk(d.pairs, d.pairsPeak)
	d.update(func(t *tables) *tables { return t.withoutPair(p) })
	d.mu.Unlock()
	// Unpublished first, then the route, outside d.mu (routeMu held).
	if err := d.removeSARoutes(p.remote); err != nil {
		return fmt.Errorf("userspace: delete SA pair peer %s: %w", id.Peer, err)
	}
	return nil
}

// SACounters reports one pair's counters.
func (d *Device) SACounters(ctx context.Context, id kernel.SAPairID) (kernel.Counters, error) {
	d.mu.Lock()
	p, ok := d.pairs[id]
	d.mu.Unlock()
	if !ok {
		return kernel.Counters{}, fmt.Errorf("userspace: counters of SA pair peer %s in %#x out %#x: no such pair", id.Peer, id.InSPI, id.OutSPI)
	}
	return p.counters(), nil
}

// Close stops the data path, removes our routes, rules and TUN device, and
// the guard unless FailClosed, and closes the event channels. The guard is
// in place before the TUN device goes, so no packet to a private prefix
// reaches main in between.
func (d *Device) Close() error {
	d.closeOnce.Do(func() {
		close(d.done)
		var errs []error
		errs = append(errs, d.tun.Close())
		d.socks.close()
		d.wg.Wait() // readers and the expiry loop
		close(d.encQ)
		close(d.sendQ)
		close(d.decQ)
		close(d.recvQ)
		d.workers.Wait()
		d.routeMu.Lock()
		defer d.routeMu.Unlock()
		d.mu.Lock()
		errs = append(errs, d.router.flush())
		if !d.cfg.FailClosed {
			errs = append(errs, d.guard.removeAll())
		} else {
			// A clean stop decides the negotiations (the daemon ends
			// them as failed before it closes us), so what it still
			// holds does not stay blocked: private-or-clear goes clear.
			errs = append(errs, d.guard.unholdAll())
			d.log.Info("fail_closed: the guard keeps private and block prefixes blackholed while stopped (docs/failclosed.md)",
				"guard_table", d.cfg.GuardTable, "guard_priority", d.cfg.GuardPriority, "routes", len(d.guard.routes)+len(d.guard.stale))
		}
		d.mu.Unlock()
		if l, err := d.router.nl.LinkByName(d.cfg.TUNName); err == nil {
			_ = d.router.nl.LinkDel(l) // normally gone with its fd already
		}
		d.router.nl.Close()
		d.router.rs.close()
		d.hold.drain(d.pools)
		close(d.acquires)
		close(d.expires)
		d.closeErr = errors.Join(errs...)
		if d.closeErr != nil {
			d.closeErr = fmt.Errorf("userspace: close: %w", d.closeErr)
		}
	})
	return d.closeErr
}
