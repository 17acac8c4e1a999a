package ike

// The protocol engine sits on top of the codec and is laid out as:
//
//   - interfaces.go: Sender, Credentials, KeyResolver (and KeyPrefetcher,
//     told of each IKE_SA_INIT answered), PeerPolicy, ChildInstaller,
//     ChildSA and the errors Initiate returns
//   - peerkeys.go: PeerKeysFunc, the keys an initiation brings for its
//     responder (InitiateOptions.PeerKeys) instead of asking KeyResolver;
//     LocalKeyResolver, keys a resolver holds in memory, taken without a
//     goroutine per look-up
//   - engine.go: EngineConfig, Engine and its public methods; trace.go:
//     Trace, what an Initiate did, for the probe tool
//   - stats.go: the counters (Stats) and why datagrams are dropped
//   - calldeadline.go: the deadline of the engine's own calls into the
//     data plane, the policy and the key resolver, one timer shared by
//     the calls made within 100 ms
//   - exchange_receive.go: routing and checking received datagrams (SPIs,
//     roles, message IDs, SK/SKF, cached responses)
//   - retransmit.go: our requests (window 1), retransmission with
//     exponential back-off and give-up, responses and their cache
//   - states.go, sa.go: the explicit IKE and CHILD SA states and the SA
//     record; halfopen.go: responder IKE_SA_INIT, cookies, half-open limits;
//     cookiemode.go: whether cookies are being demanded, logged on and off;
//     cookieretry.go: the request retried with a cookie that a late
//     retransmission without it overtook (AUTH covers the former);
//     nullcap.go: the caps on NULL-authenticated SAs and their eviction
//     initguard.go, initlimits.go, sourcelimit.go: the IKE_SA_INIT flood
//     defences (the cookie checked before parsing, per-source limits)
//   - keyexchanges.go: the record of the key exchanges that keyed an SA
//     (SAInfo.KeyExchanges: x25519+mlkem768)
//   - initiator.go, responder.go, exchange_auth.go: IKE_SA_INIT/IKE_AUTH
//     for each side and the AUTH payloads
//   - cert.go: certificate authentication: CertVerifier, CertCredential,
//     the CERT and CERTREQ payloads we send and the chain we verify;
//     certselect.go: which of our certificates an IKE SA uses
//   - child.go: CHILD SA negotiation, selectors, installation
//   - rekey.go, rekey_ike.go: CREATE_CHILD_SA (CHILD and IKE rekey,
//     collisions); exchange_followup.go: their IKE_FOLLOWUP_KE exchanges
//   - informational.go: Delete, liveness, keepalives, lifetimes
//   - abandon.go: SAs we walk away from (an abandoned initiation,
//     Shutdown) and the liveness check callers ask for
//   - contact.go: INITIAL_CONTACT, when we send it and what it deletes;
//     peerindex.go, peeraddrindex.go: the SAs by peer identity and address
//     it looks in; childindex.go: CHILD SAs by inbound SPI (findChild)
//   - childcore.go: what an SA keeps of a CHILD SA (a ChildSA without its
//     keys); stamp.go: the SAs' instants in 8 octets
//   - modecfg.go: CP in IKE_AUTH (RFC 7296 §2.19): asking for an internal
//     address, leasing one from EngineConfig.AddressPool (ike/addrpool),
//     narrowing TSi to it, releasing it when the SA dies
//
// Locking: Engine.mu guards the SA tables only (and each SA's peer and
// peerGone, contact.go); each ikeSA has its own mutex. Engine.mu may be taken while
// an SA's mutex is held, never the other way round; an old SA's mutex
// may be held while its successor's (IKE rekey) is taken. Hooks and key
// lookups run after the SA lock is released.

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oemesh/oemesh/ike/addrpool"
	"github.com/oemesh/oemesh/internal/clock"
)

// EngineConfig configures an Engine. Zero fields take the defaults named
// on each.
type EngineConfig struct {
	Credentials Credentials
	Keys        KeyResolver // needed to verify pubkey peers
	// CertVerifier checks the certificate chains of peers that
	// authenticate with certificates (AuthKindCert). nil: CERT payloads
	// are ignored, and a signature beside them is verified as a raw
	// public key through Keys, as when certificates were unsupported.
	CertVerifier CertVerifier
	// CertAuthorities name the CAs CertVerifier trusts in our CERTREQ
	// payloads: each the SHA-1 hash of a CA's SubjectPublicKeyInfo
	// (CAKeyHash). Empty asks for a certificate of any CA. CERTREQ goes
	// into our IKE_SA_INIT response and, when we want the responder's
	// certificate, our IKE_AUTH request.
	CertAuthorities [][]byte
	// CertNameMatch reports whether our certificate cert holds id (its
	// subject DN or a subjectAltName), to choose the one a peer's IDr
	// names (certselect.go). nil: only the identity a credential claims
	// matches, exactly (a DN as its DER).
	CertNameMatch func(cert *x509.Certificate, id Identity) bool
	// CertOEAlways answers every NULL OE initiator that accepts
	// signatures with the default certificate (Credentials.Cert), even one
	// that sent no CERTREQ and even when we have a raw key: Libreswan's
	// certificate OE client sends no CERTREQ. false: only one that asked,
	// or any when we have no raw key (responderAuthKind). DNS OE clients
	// that would have verified our raw key from DNS then get the
	// certificate instead.
	CertOEAlways bool
	Policy       PeerPolicy     // needed to answer as a responder
	Installer    ChildInstaller // required
	Sender       Sender         // required
	Clock        clock.Clock    // default clock.System
	Logger       *slog.Logger   // default: discard
	Rand         io.Reader      // default crypto/rand

	// IKE and ESP are our algorithm preferences; defaults
	// DefaultIKEPolicy (classical) and DefaultESPPolicy. oemeshd passes
	// PQMode.IKEPolicy for its ike.pq setting.
	IKE, ESP Policy
	// RekeyPFS is the DH group used for CHILD SA rekeys we start
	// (DHNone: no PFS).
	RekeyPFS DHGroup

	// AddressPool, when set, leases internal addresses to initiators that
	// ask for them with CP(CFG_REQUEST) in IKE_AUTH, and narrows their
	// TSi to them (modecfg.go). nil: CP requests are ignored.
	AddressPool *addrpool.Pool

	// NoSignatureHashes leaves out SIGNATURE_HASH_ALGORITHMS, as a peer
	// without RFC 7427 does; RSA peers then sign with AUTH method 1.
	NoSignatureHashes bool

	// ForceUDPEncap UDP-encapsulates ESP with every peer that supports
	// NAT traversal, NAT or not (natt.go, ourNATDetection): IKE_SA_INIT
	// carries a NAT_DETECTION_SOURCE_IP that cannot match, in both roles,
	// and as initiator we move to the NAT-T port regardless. A userspace
	// data plane wants it: the kernel segments and coalesces UDP
	// (GSO/GRO) but not IP protocol 50. false: RFC 7296 §2.23 behaviour,
	// ESP-in-UDP only behind a NAT.
	ForceUDPEncap bool

	// IKEPort and NATTPort are our local ports; default 500 and 4500.
	IKEPort, NATTPort uint16

	// RetransmitBase is the first retransmission timeout (default 500
	// ms, the Libreswan OE peers give up after 2 s), doubled each time
	// up to RetransmitMax (default 8 s). GiveUp bounds one exchange
	// (default 30 s).
	RetransmitBase, RetransmitMax, GiveUp time.Duration
	// Liveness is the interval of idleness after which we send an empty
	// INFORMATIONAL (default 0: off).
	Liveness time.Duration
	// AbandonTimeout bounds how long an initiation we give up on after
	// sending IKE_AUTH keeps talking to the peer: to retransmit the
	// Delete that removes what the peer installed (default 2 s).
	AbandonTimeout time.Duration
	// Keepalive is the NAT keepalive interval when we are behind a NAT
	// (default 20 s).
	Keepalive time.Duration
	// HalfOpenCookieThreshold is the number of half-open responder SAs
	// above which IKE_SA_INIT requests need a cookie (default 64; -1:
	// always). HalfOpenLimit is the most we keep at all (default 4096).
	// HalfOpenTimeout is how long one may stay half open (default 30 s).
	HalfOpenCookieThreshold, HalfOpenLimit int
	HalfOpenTimeout                        time.Duration
	// NullLimits bounds the IKE SAs of peers that authenticated with
	// NULL (nullcap.go).
	NullLimits NullLimits
	// InitLimits are the other defences against an IKE_SA_INIT flood
	// (initlimits.go, initguard.go).
	InitLimits InitLimits
	// FragmentThreshold is the largest IKE message (without IP/UDP
	// headers and marker) sent unfragmented when the peer supports RFC
	// 7383; default 1280-40-8-4 = 1228, which fits a 1280-octet IPv6
	// path.
	FragmentThreshold int

	// IKELifetime and ChildLifetime are the SA lifetimes (defaults 4 h
	// and 1 h); we rekey RekeyMargin before (default 10% of each).
	IKELifetime, ChildLifetime time.Duration
	RekeyMargin                time.Duration
	// RekeyFuzz spreads rekeys (RFC 7296 §2.8 asks for randomised rekey
	// times): each SA rekeys earlier than its margin by a random amount
	// up to RekeyFuzz times the margin, drawn per SA. SAs made in a burst
	// (a server's clients after a restart, a mesh coming up) would
	// otherwise rekey in the same burst, one lifetime later, and again
	// every lifetime after. Default 0.5: the initiator's rekeys fall in
	// [lifetime-1.5×margin, lifetime-margin], a window of 5% of the
	// lifetime; the responder's own, which only fire if the initiator
	// has not rekeyed, stay later than the initiator's latest (at most
	// 1, so that it remains so). Negative: no fuzz. The hard end of the
	// lifetime does not move. (Liveness checks are spread too, by
	// livenessSpread.)
	RekeyFuzz float64

	// Event hooks, called without engine locks held, in no particular
	// goroutine. Any may be nil. Rekeys show as OnChildUp for the new
	// CHILD SA (its ChildSA.Replaces names the old one) and OnChildDown
	// for the old; an IKE SA rekey is invisible to them: the CHILD SAs
	// move to the new IKE SA.
	OnEstablished func(SAInfo)
	OnChildUp     func(ChildSAInfo)
	OnChildDown   func(ChildSAInfo, error)
	OnIKEDown     func(SAInfo, error)
}

func (c *EngineConfig) setDefaults() {
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.IKE.Protocol == 0 {
		c.IKE = DefaultIKEPolicy()
	}
	if c.ESP.Protocol == 0 {
		c.ESP = DefaultESPPolicy()
	}
	if c.IKEPort == 0 {
		c.IKEPort = 500
	}
	if c.NATTPort == 0 {
		c.NATTPort = 4500
	}
	if c.RetransmitBase <= 0 {
		c.RetransmitBase = 500 * time.Millisecond
	}
	if c.RetransmitMax <= 0 {
		c.RetransmitMax = 8 * time.Second
	}
	if c.GiveUp <= 0 {
		c.GiveUp = 30 * time.Second
	}
	if c.Keepalive <= 0 {
		c.Keepalive = 20 * time.Second
	}
	if c.AbandonTimeout <= 0 {
		c.AbandonTimeout = 2 * time.Second
	}
	if c.HalfOpenCookieThreshold == 0 {
		c.HalfOpenCookieThreshold = 64
	}
	if c.HalfOpenLimit <= 0 {
		c.HalfOpenLimit = 4096
	}
	if c.HalfOpenTimeout <= 0 {
		c.HalfOpenTimeout = 30 * time.Second
	}
	c.NullLimits.setDefaults()
	c.InitLimits.setDefaults()
	if c.FragmentThreshold <= 0 {
		c.FragmentThreshold = DefaultFragmentThreshold
	}
	if c.IKELifetime <= 0 {
		c.IKELifetime = 4 * time.Hour
	}
	if c.ChildLifetime <= 0 {
		c.ChildLifetime = time.Hour
	}
	if c.RekeyFuzz == 0 {
		c.RekeyFuzz = 0.5
	}
	c.RekeyFuzz = min(c.RekeyFuzz, 1) // negative stays: no fuzz
}

// DefaultFragmentThreshold is the largest IKE message sent whole: a
// 1280-octet IPv6 path minus the IPv6 (40) and UDP (8) headers and the
// non-ESP marker (4).
const DefaultFragmentThreshold = 1280 - 40 - 8 - 4

// SAID names an IKE SA by its SPIs.
type SAID struct {
	SPIi, SPIr SPI
}

func (id SAID) String() string { return fmt.Sprintf("%x_i:%x_r", id.SPIi[:], id.SPIr[:]) }

// SAInfo describes an IKE SA.
type SAInfo struct {
	ID        SAID
	Initiator bool // we are the original initiator
	State     string
	Local     netip.AddrPort
	Remote    netip.AddrPort
	PeerID    Identity
	PeerAuth  AuthKind
	// PeerCert is the certificate the peer authenticated with
	// (PeerAuth AuthKindCert), nil otherwise.
	PeerCert    *PeerCertificate
	Suite       IKESuite
	NATT        bool // IKE moved to the NAT-T port
	BehindNAT   bool // we are behind a NAT (we send keepalives)
	Established time.Time
	Children    []ChildSAInfo
	// VirtualIPs: as in ChildSAInfo.
	VirtualIPs []netip.Addr

	// KeyExchanges are the key exchanges that keyed the SA: Suite.DH,
	// then the additional ones (RFC 9370) that ran. After an IKE SA
	// rekey, the new SA's.
	KeyExchanges KeyExchanges
}

// ChildSAInfo describes a CHILD SA.
type ChildSAInfo struct {
	IKE      SAID
	SPIIn    uint32
	SPIOut   uint32
	Mode     Mode
	TSLocal  []TrafficSelector
	TSRemote []TrafficSelector
	Encr     EncrAlg
	Integ    IntegID
	ESN      bool
	PFS      DHGroup
	Encap    bool
	PeerID   Identity
	Trace    *Trace // set by Initiate
	// VirtualIPs are the internal addresses of the IKE SA's mode config
	// (modecfg.go): as initiator, the ones the responder assigned us; as
	// responder, the ones we leased to the peer from the AddressPool.
	VirtualIPs []netip.Addr
}

// Engine is an IKEv2 initiator and responder for any number of peers. It
// is safe for concurrent use.
type Engine struct {
	cfg EngineConfig
	log *slog.Logger
	// epoch is what the SAs' stamps count from (stamp.go).
	epoch time.Time

	cookies *Cookies
	// sourceLimit bounds the cookie demands per source (initguard.go);
	// nil: no limit.
	sourceLimit *sourceLimiter
	// cookieMode reports whether cookies are being demanded (cookiemode.go).
	cookieMode cookieMode
	stats      stats
	// sched runs the SAs' long-lived timers (sched.go).
	sched *scheduler
	// spawn runs slow work (key lookups) outside the caller; tests make
	// it synchronous.
	spawn func(func())
	// panics lets panics in HandlePacket through (tests).
	panics bool
	// life is the engine's lifetime, ended by Close. Work that no
	// Initiate call waits for (the peer's exchanges, rekeys, deletes,
	// expiries) calls the data plane, the policy and the key resolver
	// with it, bounded per call; an initiation uses its caller's context
	// instead (sa.callCtx).
	life    context.Context
	endLife context.CancelFunc
	// calls and lookups bound those calls (installTimeout and
	// resolveTimeout), sharing one timer among the calls made close
	// together (calldeadline.go).
	calls, lookups *callDeadlines

	mu       sync.Mutex
	closed   bool
	closing  bool                   // Shutdown is telling peers: no new SAs
	sas      map[SPI]*ikeSA         // by our SPI
	sasPeak  int                    // the most sas held since it was made (shrinkSAsLocked)
	halfOpen map[halfOpenKey]*ikeSA // responder SAs by the peer's SPIi and address
	byPeerID map[peerKey]*ikeSA     // SAs by their peer's identity, asked for or proved, listed through idNext (peerindex.go)
	byAddr   map[netip.Addr]*ikeSA  // SAs by their peer's address, listed through addrNext (peeraddrindex.go)
	nHalf    int
	// nHalfPeak is the most half-open SAs there have been at once.
	nHalfPeak int
	seq       uint64 // orders SAs' starts and establishments (contact.go)
	// null counts the NULL-authenticated SAs (nullcap.go); its own lock,
	// a leaf.
	null nullSAs
	// childIdx finds a CHILD SA's IKE SA by inbound SPI (childindex.go);
	// its own lock, a leaf.
	childIdx childIndex

	// certs are the certificates we authenticate with: Credentials.Cert
	// and Credentials.Certs at first, then what SetCertCredential and
	// SetCertCredentials put (cert.go, certselect.go). certsMu orders
	// those two; readers only Load.
	certs   atomic.Pointer[certSet]
	certsMu sync.Mutex
	// certAuthorities are the CA key hashes of our CERTREQ:
	// CertAuthorities at first, then what SetCertAuthorities put
	// (certauthorities.go).
	certAuthorities atomic.Pointer[[][]byte]
}

type halfOpenKey struct {
	spii   SPI
	remote netip.AddrPort
}

// NewEngine checks cfg and returns an engine.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	cfg.setDefaults()
	if cfg.Sender == nil {
		return nil, fmt.Errorf("ike: engine config: Sender is required")
	}
	if cfg.Installer == nil {
		return nil, fmt.Errorf("ike: engine config: Installer is required")
	}
	if err := cfg.IKE.Validate(); err != nil {
		return nil, fmt.Errorf("ike: engine config: IKE proposals: %w", err)
	}
	if cfg.IKE.Protocol != ProtocolIKE {
		return nil, fmt.Errorf("ike: engine config: IKE proposals are for %v", cfg.IKE.Protocol)
	}
	if err := cfg.ESP.Validate(); err != nil {
		return nil, fmt.Errorf("ike: engine config: ESP proposals: %w", err)
	}
	if cfg.ESP.Protocol != ProtocolESP {
		return nil, fmt.Errorf("ike: engine config: ESP proposals are for %v", cfg.ESP.Protocol)
	}
	certs, err := newCertSet(cfg.Credentials.Cert, cfg.Credentials.Certs)
	if err != nil {
		return nil, fmt.Errorf("ike: engine config: %w", err)
	}
	if err := checkCAKeyHashes(cfg.CertAuthorities); err != nil {
		return nil, fmt.Errorf("ike: engine config: CertAuthorities%w", err)
	}
	if cfg.RekeyPFS != DHNone && !cfg.RekeyPFS.Supported() {
		return nil, fmt.Errorf("ike: engine config: rekey PFS group %v not implemented", cfg.RekeyPFS)
	}
	e := &Engine{
		cfg:      cfg,
		log:      cfg.Logger,
		sas:      make(map[SPI]*ikeSA),
		byPeerID: make(map[peerKey]*ikeSA),
		halfOpen: make(map[halfOpenKey]*ikeSA),
		sched:    newScheduler(cfg.Clock),
		epoch:    cfg.Clock.Now(),
	}
	e.cookies = &Cookies{Now: cfg.Clock.Now, Rand: cfg.Rand}
	if l := cfg.InitLimits; l.SourceRate > 0 {
		e.sourceLimit = newSourceLimiter(l.SourceRate, l.SourceBurst, l.SourceTable)
	}
	// The root of the engine's own work (not of any negotiation: those
	// come with their caller's context).
	e.life, e.endLife = context.WithCancel(context.Background())
	e.calls = newCallDeadlines(e.life, installTimeout)
	e.lookups = newCallDeadlines(e.life, resolveTimeout)
	e.certs.Store(certs)
	e.certAuthorities.Store(&cfg.CertAuthorities)
	e.spawn = func(f func()) { go f() }
	return e, nil
}

// HandlePacket processes one received IKE message (without the non-ESP
// marker) that arrived at local from remote. It never panics on bad
// input: every dropped datagram is counted in Stats and logged at debug
// level with the reason.
func (e *Engine) HandlePacket(pkt []byte, local, remote netip.AddrPort) {
	if !e.panics {
		// A bug must not take the daemon down with it: count the
		// datagram as dropped and say loudly what happened. Locks are
		// released by the deferred unlocks on the way up. Tests and fuzz
		// targets turn this off so that panics fail them.
		defer func() {
			if r := recover(); r != nil {
				e.drop(DropInvalid, remote, fmt.Errorf("panic: %v", r))
				e.log.Error("ike: BUG: panic while handling a datagram", "remote", remote, "panic", r, "stack", string(debug.Stack()))
			}
		}()
	}
	e.handlePacket(pkt, local, remote)
}

// Initiate sets up an IKE SA with opts.Remote and its first CHILD SA, and
// blocks until the CHILD SA is installed or the attempt fails. Errors:
// *NotifyError for an error notify from the peer, ErrTimeout when the
// peer stops answering, errors wrapping ErrAuthentication when the peer's
// AUTH does not verify, *NoProposalChosenError when the peer's choice is
// not among ours, and context errors (ctx's cause too, when it has one).
// ctx bounds the whole initiation: the calls it makes into the data plane
// (AllocSPI, Install) and for the peer's keys (opts.PeerKeys or the
// KeyResolver) get ctx itself, with its deadline, values and cause. When
// ctx ends first, Initiate returns at once, and a peer that may already
// hold the SA (IKE_AUTH was sent) is sent a Delete, retransmitted for
// AbandonTimeout at most.
func (e *Engine) Initiate(ctx context.Context, opts InitiateOptions) (ChildSAInfo, error) {
	return e.initiate(ctx, opts)
}

// DeleteIKE deletes an IKE SA and its CHILD SAs, telling the peer.
func (e *Engine) DeleteIKE(ctx context.Context, id SAID) error {
	return e.deleteIKE(ctx, id)
}

// DeleteChild deletes the CHILD SA whose inbound SPI is spiIn, telling
// the peer.
func (e *Engine) DeleteChild(ctx context.Context, spiIn uint32) error {
	return e.deleteChild(ctx, spiIn)
}

// RekeyChild replaces the CHILD SA whose inbound SPI is spiIn, with PFS
// when pfs is not DHNone.
func (e *Engine) RekeyChild(ctx context.Context, spiIn uint32, pfs DHGroup) error {
	return e.rekeyChild(ctx, spiIn, pfs)
}

// RekeyIKE replaces an IKE SA, moving its CHILD SAs to the new one.
func (e *Engine) RekeyIKE(ctx context.Context, id SAID) error {
	return e.rekeyIKE(ctx, id)
}

// SAs lists the IKE SAs (established or being set up) and their CHILD SAs.
func (e *Engine) SAs() []SAInfo {
	return e.listSAs()
}

// Close deletes every IKE SA (sending Delete, without waiting for the
// answers) and stops all timers. HandlePacket drops everything afterwards.
func (e *Engine) Close() error {
	return e.close()
}

// Shutdown tells every peer that we go: a Delete for each established IKE
// SA, and for each initiation under way that the peer may already hold
// (see abandon). It waits for the answers until ctx ends, taking no new
// SAs meanwhile, then closes the engine as Close does. The transport must
// still deliver packets while it runs.
func (e *Engine) Shutdown(ctx context.Context) error {
	return e.shutdown(ctx)
}

// CheckLiveness asks the peer of an established IKE SA whether it is
// still there (an empty INFORMATIONAL, RFC 7296 §2.4). When no answer
// comes within `within` (0: the engine's GiveUp) the peer is taken for
// dead: the IKE SA and its CHILD SAs are removed, without a Delete, and
// the error wraps ErrTimeout.
func (e *Engine) CheckLiveness(ctx context.Context, id SAID, within time.Duration) error {
	return e.checkLiveness(ctx, id, within)
}

// ProbeLiveness is CheckLiveness without waiting: it returns once the
// check is sent (or cannot be), and done, when not nil, is called later
// with its outcome. done must not block; it runs on the engine's
// goroutines.
func (e *Engine) ProbeLiveness(id SAID, within time.Duration, done func(error)) error {
	return e.probeLiveness(id, within, done)
}

func (e *Engine) allSAs() []*ikeSA {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*ikeSA, 0, len(e.sas))
	for _, sa := range e.sas {
		out = append(out, sa)
	}
	return out
}

func (e *Engine) listSAs() []SAInfo {
	var out []SAInfo
	for _, sa := range e.allSAs() {
		sa.lock()
		if sa.state != stDead {
			out = append(out, sa.info())
		}
		sa.unlock()
	}
	return out
}

func (e *Engine) close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	for _, sa := range e.allSAs() {
		sa.lock()
		sa.sendDelete()
		sa.die(ErrClosed, false)
		sa.unlock()
	}
	e.stopCookieMode()
	// Last: the deletes above still needed the data plane.
	e.endLife()
	return nil
}
