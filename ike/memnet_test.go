package ike

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/clock/clocktest"
)

// memPacket is one datagram in flight on a memNet.
type memPacket struct {
	data     []byte
	from, to netip.AddrPort
	seq      int // order of sending, from 0
}

// memNet is an in-memory network between engines. Packets queue until the
// test delivers them; a filter may drop, duplicate or rewrite them, and
// delivery may be reordered (LIFO).
type memNet struct {
	t       testing.TB
	clock   *clocktest.Fake
	mu      sync.Mutex
	queue   []memPacket
	sent    int
	engines map[netip.Addr]*Engine
	// filter returns how many copies of p to deliver (0 drops it).
	filter func(p *memPacket) int
	lifo   bool
	log    []memPacket // everything sent, for inspection
	// nat, when set, hides one host behind a public address.
	nat *memNAT
	// wrap, when set, runs each delivery (benchmarks time the responder).
	wrap func(e *Engine, deliver func())
	// sentc, when set, is signalled (without blocking) on every send.
	sentc chan struct{}
}

// memNAT maps inner:port to outer:ports[port] and back.
type memNAT struct {
	inner, outer netip.Addr
	ports        map[uint16]uint16
}

func (m *memNAT) out(a netip.AddrPort) netip.AddrPort {
	if m == nil || a.Addr() != m.inner {
		return a
	}
	return netip.AddrPortFrom(m.outer, m.ports[a.Port()])
}

func (m *memNAT) in(a netip.AddrPort) netip.AddrPort {
	if m == nil || a.Addr() != m.outer {
		return a
	}
	for i, o := range m.ports {
		if o == a.Port() {
			return netip.AddrPortFrom(m.inner, i)
		}
	}
	return a
}

func newMemNet(t testing.TB) *memNet {
	return &memNet{t: t, clock: clocktest.New(), engines: map[netip.Addr]*Engine{}}
}

type memSender struct {
	n          *memNet
	self       netip.Addr
	also       netip.Addr // a second address of the host, if any
	keepalives int
}

func (s *memSender) SendKeepalive(local, remote netip.AddrPort) error {
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	s.keepalives++
	return nil
}

func (s *memSender) Send(pkt []byte, local, remote netip.AddrPort) error {
	if !local.IsValid() {
		local = netip.AddrPortFrom(s.self, local.Port())
		if local.Port() == 0 {
			local = netip.AddrPortFrom(s.self, 500)
		}
	}
	if local.Addr() != s.self && local.Addr() != s.also {
		return fmt.Errorf("memnet: %v sends from %v", s.self, local)
	}
	s.n.mu.Lock()
	defer s.n.mu.Unlock()
	p := memPacket{data: append([]byte(nil), pkt...), from: local, to: remote, seq: s.n.sent}
	s.n.sent++
	s.n.log = append(s.n.log, p)
	copies := 1
	if s.n.filter != nil {
		s.n.mu.Unlock()
		copies = s.n.filter(&p)
		s.n.mu.Lock()
	}
	for i := 0; i < copies; i++ {
		s.n.queue = append(s.n.queue, p)
	}
	if s.n.sentc != nil {
		select {
		case s.n.sentc <- struct{}{}:
		default:
		}
	}
	return nil
}

// deliverOne hands the next queued packet to its engine.
func (n *memNet) deliverOne() bool {
	n.mu.Lock()
	if len(n.queue) == 0 {
		n.mu.Unlock()
		return false
	}
	var p memPacket
	if n.lifo {
		p = n.queue[len(n.queue)-1]
		n.queue = n.queue[:len(n.queue)-1]
	} else {
		p = n.queue[0]
		n.queue[0] = memPacket{} // let the datagram go
		n.queue = n.queue[1:]
	}
	from, to := n.nat.out(p.from), n.nat.in(p.to)
	e := n.engines[to.Addr()]
	n.mu.Unlock()
	if e != nil {
		if n.wrap != nil {
			n.wrap(e, func() { e.HandlePacket(p.data, to, from) })
		} else {
			e.HandlePacket(p.data, to, from)
		}
	}
	return true
}

// run delivers packets and fires timers until cond holds. It fails the
// test if nothing is left to do, or after maxSim of simulated time.
func (n *memNet) run(cond func() bool, maxSim time.Duration) {
	n.t.Helper()
	start := n.clock.Now()
	for i := 0; i < 100000; i++ {
		if cond() {
			return
		}
		if n.deliverOne() {
			continue
		}
		if n.clock.Now().Sub(start) > maxSim || !n.clock.Step(maxSim) {
			n.t.Fatalf("memnet: stuck after %v of simulated time", n.clock.Now().Sub(start))
		}
	}
	n.t.Fatal("memnet: too many steps")
}

// drain delivers everything queued (no timers).
func (n *memNet) drain() {
	for n.deliverOne() {
	}
}

// fakeInstaller is a data plane that remembers what it holds.
type fakeInstaller struct {
	mu        sync.Mutex
	next      uint32
	installed map[uint32]ChildSA
	allocated map[uint32]bool
	deleted   []uint32
	failAt    int // fail the failAt-th Install (1-based), 0 never
	installs  int
}

func newFakeInstaller(base uint32) *fakeInstaller {
	return &fakeInstaller{next: base, installed: map[uint32]ChildSA{}, allocated: map[uint32]bool{}}
}

func (f *fakeInstaller) AllocSPI(_ context.Context, src, dst netip.Addr) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	f.allocated[f.next] = true
	return f.next, nil
}

func (f *fakeInstaller) Install(_ context.Context, sa ChildSA) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.installs++
	if f.installs == f.failAt {
		return errors.New("fake: install refused")
	}
	if !f.allocated[sa.SPIIn] {
		return fmt.Errorf("fake: SPI %08x not allocated", sa.SPIIn)
	}
	f.installed[sa.SPIIn] = sa
	return nil
}

func (f *fakeInstaller) Delete(_ context.Context, sa ChildSA) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.installed, sa.SPIIn)
	delete(f.allocated, sa.SPIIn)
	f.deleted = append(f.deleted, sa.SPIIn)
	return nil
}

func (f *fakeInstaller) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.installed)
}

func (f *fakeInstaller) get(spi uint32) (ChildSA, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.installed[spi]
	return c, ok
}

// fakePolicy accepts the configured auth classes and any selectors,
// optionally narrowing TSr to one host.
type fakePolicy struct {
	allow    map[AuthKind]bool
	narrowTo netip.Addr
	refuse   error
}

func (p *fakePolicy) AcceptAuth(_ context.Context, req AuthRequest) error {
	if p.allow != nil && !p.allow[req.Kind] {
		return fmt.Errorf("fake policy: %v not allowed", req.Kind)
	}
	return nil
}

func (p *fakePolicy) Child(_ context.Context, req ChildRequest) (ChildDecision, error) {
	if p.refuse != nil {
		return ChildDecision{}, p.refuse
	}
	d := ChildDecision{TSi: req.TSi, TSr: req.TSr, Mode: ModeTunnel}
	if p.narrowTo.IsValid() {
		d.TSr = []TrafficSelector{HostSelector(p.narrowTo)}
	}
	if req.Transport {
		d.Mode = ModeTransport
	}
	return d, nil
}

// fakeKeys resolves identities to keys.
type fakeKeys struct {
	mu   sync.Mutex
	keys map[string][]crypto.PublicKey
	err  error
}

func (k *fakeKeys) PeerKeys(_ context.Context, peer Identity, _ netip.Addr) ([]crypto.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return nil, k.err
	}
	ks, ok := k.keys[peer.String()]
	if !ok {
		return nil, fmt.Errorf("fake: %v: %w", peer, ErrNoKey)
	}
	return ks, nil
}

// testPeer is one engine on a memNet with its fakes.
type testPeer struct {
	addr   netip.Addr
	e      *Engine
	inst   *fakeInstaller
	policy *fakePolicy
	keys   *fakeKeys
	signer crypto.Signer
	events struct {
		sync.Mutex
		up, childUp, childDown, down int
	}
}

var (
	addrA = netip.MustParseAddr("192.0.2.1")
	addrB = netip.MustParseAddr("192.0.2.2")
)

func testLogger() *slog.Logger {
	if os.Getenv("IKE_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return nil
}

// addPeer creates an engine at addr. mod may adjust the config.
func (n *memNet) addPeer(addr netip.Addr, signer crypto.Signer, mod func(*EngineConfig)) *testPeer {
	n.t.Helper()
	p := &testPeer{addr: addr, inst: newFakeInstaller(uint32(addr.As4()[3]) << 24), policy: &fakePolicy{},
		keys: &fakeKeys{keys: map[string][]crypto.PublicKey{}}, signer: signer}
	cfg := EngineConfig{
		Credentials: Credentials{Signer: signer, PSK: func(Identity) []byte { return []byte("a shared secret of some length") }},
		Keys:        p.keys, Policy: p.policy, Installer: p.inst,
		Sender: &memSender{n: n, self: addr}, Clock: n.clock, Logger: testLogger(),
		HalfOpenCookieThreshold: 1000,
		OnEstablished:           func(SAInfo) { p.events.Lock(); p.events.up++; p.events.Unlock() },
		OnChildUp:               func(ChildSAInfo) { p.events.Lock(); p.events.childUp++; p.events.Unlock() },
		OnChildDown:             func(ChildSAInfo, error) { p.events.Lock(); p.events.childDown++; p.events.Unlock() },
		OnIKEDown:               func(SAInfo, error) { p.events.Lock(); p.events.down++; p.events.Unlock() },
	}
	if mod != nil {
		mod(&cfg)
	}
	e, err := NewEngine(cfg)
	if err != nil {
		n.t.Fatal(err)
	}
	e.spawn = func(f func()) { f() } // deterministic: lookups finish at once
	e.panics = true                  // a panic must fail the test
	p.e = e
	n.engines[addr] = e
	return p
}

// trust makes p accept q's key for q's address identity.
func (p *testPeer) trust(q *testPeer) {
	p.keys.mu.Lock()
	defer p.keys.mu.Unlock()
	p.keys.keys[AddrIdentity(q.addr).String()] = []crypto.PublicKey{q.signer.Public()}
}

func newEd25519(t testing.TB) crypto.Signer {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pair builds A and B that trust each other's keys.
func newPair(t testing.TB, sa, sb crypto.Signer, mod func(*EngineConfig)) (*memNet, *testPeer, *testPeer) {
	n := newMemNet(t)
	if sa == nil {
		sa = newEd25519(t)
	}
	if sb == nil {
		sb = newEd25519(t)
	}
	a := n.addPeer(addrA, sa, mod)
	b := n.addPeer(addrB, sb, mod)
	a.trust(b)
	b.trust(a)
	return n, a, b
}

// initiate runs Initiate from p to q on the memNet without goroutines.
func (n *memNet) initiate(p, q *testPeer, opts InitiateOptions) (ChildSAInfo, error) {
	n.t.Helper()
	if !opts.Remote.IsValid() {
		opts.Remote = netip.AddrPortFrom(q.addr, 500)
	}
	if !opts.Local.IsValid() {
		opts.Local = p.addr
	}
	if opts.Mode == ModeUnset {
		opts.Mode = ModeTunnel // what the engine tests mean unless they say transport
	}
	in, sa, err := p.e.startInitiate(context.Background(), opts)
	if err != nil {
		return ChildSAInfo{}, err
	}
	n.run(func() bool { return len(in.done) > 0 }, 10*time.Minute)
	return sa.awaitInitiate(context.Background(), in)
}

// established returns p's SAs.
func (p *testPeer) established() []SAInfo {
	var out []SAInfo
	for _, s := range p.e.SAs() {
		if s.State == stEstablished.String() {
			out = append(out, s)
		}
	}
	return out
}

// advance moves simulated time forward by d, delivering datagrams as soon
// as they are sent (the network takes no time).
func (n *memNet) advance(d time.Duration) {
	limit := n.clock.Now().Add(d)
	for {
		n.drain()
		if !n.clock.RunNext(limit) {
			break
		}
	}
	n.clock.Advance(limit.Sub(n.clock.Now()))
	n.drain()
}
