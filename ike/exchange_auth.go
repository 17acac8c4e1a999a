package ike

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// resolveTimeout bounds one KeyResolver lookup (and one AcceptAuth call)
// made for the peer's negotiation; ours are bounded by Initiate's context.
const resolveTimeout = 5 * time.Second

// ourIdentity is the ID we send for an authentication class.
func (sa *ikeSA) ourIdentity(kind AuthKind) (Identity, error) {
	if kind == AuthKindNull {
		return NullIdentity(), nil
	}
	if kind == AuthKindCert {
		if sa.cert != nil {
			return sa.cert.identity(), nil
		}
		return Identity{}, errors.New("ike: certificate authentication but no certificate")
	}
	if sa.localID != nil {
		return *sa.localID, nil
	}
	if id := sa.e.cfg.Credentials.ID; id.Type != 0 {
		return id, nil
	}
	if sa.local.IsValid() {
		return AddrIdentity(sa.local.Addr()), nil
	}
	return Identity{}, errors.New("ike: no identity: set Credentials.ID or the local address")
}

// ourSignedOctets and peerSignedOctets are what each side's AUTH covers
// (RFC 7296 §2.15).
// After IKE_INTERMEDIATE exchanges, both end with their IntAuth (RFC 9242
// §3.3.2).
func (sa *ikeSA) ourSignedOctets(id Identity) []byte {
	if sa.initiator {
		return signedOctetsWithIntAuth(sa.suite.PRF, sa.initI, sa.nr, sa.skpi, id, &sa.intAuth, sa.authMID)
	}
	return signedOctetsWithIntAuth(sa.suite.PRF, sa.initR, sa.ni, sa.skpr, id, &sa.intAuth, sa.authMID)
}

func (sa *ikeSA) peerSignedOctets(id Identity) []byte {
	if sa.initiator {
		return signedOctetsWithIntAuth(sa.suite.PRF, sa.initR, sa.ni, sa.skpr, id, &sa.intAuth, sa.authMID)
	}
	return signedOctetsWithIntAuth(sa.suite.PRF, sa.initI, sa.nr, sa.skpi, id, &sa.intAuth, sa.authMID)
}

// makeAuth builds our AUTH payload. pskPeer is whose PSK to use.
func (sa *ikeSA) makeAuth(kind AuthKind, id Identity, pskPeer Identity) (*wire.Auth, error) {
	octets := sa.ourSignedOctets(id)
	cred := sa.e.cfg.Credentials
	switch kind {
	case AuthKindNull:
		skp := sa.skpr
		if sa.initiator {
			skp = sa.skpi
		}
		return &wire.Auth{Method: AuthNull, Data: SharedKeyAuth(sa.suite.PRF, skp, octets)}, nil
	case AuthKindPSK:
		var psk []byte
		if cred.PSK != nil {
			psk = cred.PSK(pskPeer)
		}
		if psk == nil {
			return nil, fmt.Errorf("ike: no pre-shared key for %v", pskPeer)
		}
		return &wire.Auth{Method: AuthSharedKey, Data: SharedKeyAuth(sa.suite.PRF, psk, octets)}, nil
	case AuthKindPubkey:
		if cred.Signer == nil {
			return nil, errors.New("ike: pubkey authentication but no private key")
		}
		_, scheme, err := ChooseSignatureScheme(cred.Signer.Public(), sa.hashes)
		if err != nil {
			return nil, err
		}
		return signAuth(cred.Signer, scheme, octets, sa.e.cfg.Rand)
	case AuthKindCert:
		if sa.cert == nil {
			return nil, errors.New("ike: certificate authentication but no certificate")
		}
		c := sa.cert.cred
		_, scheme, err := ChooseSignatureScheme(c.Signer.Public(), sa.hashes)
		if err != nil {
			return nil, err
		}
		return signAuth(c.Signer, scheme, octets, sa.e.cfg.Rand)
	}
	return nil, fmt.Errorf("ike: cannot authenticate with %v", kind)
}

// errTemporary marks verification failures that are not the peer's
// fault (a key lookup that failed); the responder answers
// TEMPORARY_FAILURE rather than AUTHENTICATION_FAILED.
var errTemporary = errors.New("temporary failure")

// peerKeys is the outcome of a key lookup.
type peerKeys struct {
	keys []crypto.PublicKey
	err  error
	// none: there was nowhere to look (no PeerKeys, no KeyResolver).
	none bool
	// cert: keys is the key of the peer's certificate chain, which
	// CertVerifier checked; err is its verdict. chain is what it checked.
	cert  bool
	chain [][]byte
}

// keySource is where the keys of a peer that signs as id come from, and
// the context to ask with. Our own initiation asks its PeerKeys if it has
// one (never the KeyResolver then), else the KeyResolver, with Initiate's
// context either way; a peer's initiation asks the KeyResolver within the
// engine's lifetime, bounded by resolveTimeout. nil: nowhere to ask.
// Called with sa.mu held.
func (sa *ikeSA) keySource(id Identity) (PeerKeysFunc, context.Context, context.CancelFunc) {
	e, remote := sa.e, sa.remote.Addr()
	var resolve PeerKeysFunc
	if e.cfg.Keys != nil {
		resolve = func(ctx context.Context) ([]crypto.PublicKey, error) { return e.cfg.Keys.PeerKeys(ctx, id, remote) }
	}
	if in := sa.init; in != nil && in.ctx != nil {
		if in.opts.PeerKeys != nil {
			resolve = in.opts.PeerKeys
		}
		return resolve, in.ctx, func() {}
	}
	ctx, cancel := e.lookups.get()
	return resolve, ctx, cancel
}

// lookupKeys resolves the peer's keys when its AUTH payload is a
// signature, outside every engine lock (DNS, like OCSP for a
// certificate, can take a while and HandlePacket must not stall), then
// calls then with sa.mu held. kind is the class of the peer's AUTH
// (peerAuthKind): for AuthKindCert the key comes from the certificate
// chain in m, checked by the CertVerifier. For other methods it calls
// then at once.
func (sa *ikeSA) lookupKeys(m *wire.Message, kind AuthKind, id Identity, then func(peerKeys)) {
	e := sa.e
	if kind == AuthKindCert {
		sa.verifyCertChain(m, id, then)
		return
	}
	if kind != AuthKindPubkey {
		then(peerKeys{})
		return
	}
	resolve, ctx, cancel := sa.keySource(id)
	if resolve == nil {
		cancel()
		then(peerKeys{none: true})
		return
	}
	atHand := sa.keysAtHand(id)
	sa.lookup = true
	finish := func(keys []crypto.PublicKey, err error) {
		cancel()
		sa.lock()
		defer sa.unlock()
		sa.lookup = false
		if sa.state == stDead {
			return
		}
		if in := sa.init; in != nil && in.ctx == ctx && ctx.Err() != nil {
			// Our caller gave up while we waited for the keys, and the
			// look-up ended with its context: that is an abandonment,
			// which awaitInitiate carries out (abandon.go: B hears a
			// Delete), not a verification failure of the peer.
			return
		}
		then(peerKeys{keys: keys, err: err})
	}
	sa.post(func() {
		if atHand != nil {
			if keys, ok := atHand(); ok {
				finish(keys, nil)
				return
			}
		}
		e.spawn(func() { finish(resolve(ctx)) })
	})
}

// verifyCertChain has the CertVerifier in use (certVerifier) check the
// chain of m's CERT payloads for id, outside every engine lock, then calls then with
// sa.mu held.
func (sa *ikeSA) verifyCertChain(m *wire.Message, id Identity, then func(peerKeys)) {
	e := sa.e
	chain := x509Chain(m)
	verifier := sa.certVerifier()
	var ctx context.Context
	cancel := func() {}
	if in := sa.init; in != nil && in.ctx != nil {
		ctx = in.ctx
	} else {
		ctx, cancel = e.lookups.get()
	}
	sa.lookup = true
	sa.post(func() {
		e.spawn(func() {
			key, err := verifier.VerifyCert(ctx, chain, id)
			cancel()
			sa.lock()
			defer sa.unlock()
			sa.lookup = false
			if sa.state == stDead {
				return
			}
			if in := sa.init; in != nil && in.ctx == ctx && ctx.Err() != nil {
				return // abandoned while we waited, as in lookupKeys
			}
			pk := peerKeys{cert: true, chain: chain, err: err}
			if err == nil {
				pk.keys = []crypto.PublicKey{key}
			} else {
				e.stats.noteCertFailure(err)
			}
			then(pk)
		})
	})
}

// verifyPeerAuth checks the peer's AUTH payload of class kind
// (peerAuthKind) for identity id; pk holds the keys looked up for
// signature methods.
func (sa *ikeSA) verifyPeerAuth(a *wire.Auth, kind AuthKind, id Identity, pk peerKeys) (string, error) {
	octets := sa.peerSignedOctets(id)
	prf := sa.suite.PRF
	switch kind {
	case AuthKindNull:
		skp := sa.skpi
		if sa.initiator {
			skp = sa.skpr
		}
		return a.Method.String(), VerifySharedKeyAuth(prf, skp, octets, a.Data)
	case AuthKindPSK:
		var psk []byte
		if f := sa.e.cfg.Credentials.PSK; f != nil {
			psk = f(id)
		}
		if psk == nil {
			return a.Method.String(), fmt.Errorf("ike: no pre-shared key for %v: %w", id, ErrAuthentication)
		}
		return a.Method.String(), VerifySharedKeyAuth(prf, psk, octets, a.Data)
	case AuthKindPubkey:
		if pk.none {
			return "", fmt.Errorf("ike: no key resolver to verify %v: %w", id, ErrAuthentication)
		}
		if err := pk.err; err != nil {
			if errors.Is(err, ErrNoKey) {
				return "", fmt.Errorf("ike: public key of %v: %w: %w", id, err, ErrAuthentication)
			}
			return "", fmt.Errorf("ike: public key of %v: %w: %w", id, err, errTemporary)
		}
		if len(pk.keys) == 0 {
			return "", fmt.Errorf("ike: public key of %v: %w: %w", id, ErrNoKey, ErrAuthentication)
		}
		var last error
		for _, k := range pk.keys {
			s, err := verifyAuth(a, k, octets)
			if err == nil {
				return s.String(), nil
			}
			last = err
		}
		return "", fmt.Errorf("ike: %v: none of %d keys verifies: %w", id, len(pk.keys), last)
	case AuthKindCert:
		if pk.err != nil {
			// A chain the verifier refuses is the peer's failure,
			// whatever the reason (unknown CA, expired, wrong name).
			return "", fmt.Errorf("ike: certificate of %v: %w: %w", id, pk.err, ErrAuthentication)
		}
		if len(pk.keys) != 1 || pk.keys[0] == nil {
			return "", fmt.Errorf("ike: certificate of %v: the verifier returned no key: %w", id, ErrAuthentication)
		}
		s, err := verifyAuth(a, pk.keys[0], octets)
		if err != nil {
			return "", fmt.Errorf("ike: %v: AUTH does not verify with the certificate's key: %w", id, err)
		}
		sa.peerCert = summarizeCert(pk.chain[0])
		return s.String(), nil
	}
	return "", fmt.Errorf("ike: AUTH method %v not supported: %w", a.Method, ErrAuthentication)
}

// establish marks the SA authenticated and starts its timers.
func (sa *ikeSA) establish(peer Identity, kind AuthKind) {
	e := sa.e
	sa.peerID, sa.peerAuth = peer, kind
	sa.established = e.stampOf(e.cfg.Clock.Now())
	sa.setState(stEstablished)
	e.notePeerUp(sa, peer)
	e.leaveHalfOpen(sa) // its half-open timer now only forgets the IKE_SA_INIT entry
	// The IKE_SA_INIT messages and SK_p are only needed for AUTH.
	sa.handshake = nil // nonces, IKE_SA_INIT messages, SK_p: only AUTH needed them
	e.stats.add(&e.stats.ikeUp)
	sa.startTimers()
	if f := e.cfg.OnEstablished; f != nil {
		info := sa.info()
		sa.post(func() { f(info) })
	}
	if e.debugOn() {
		e.log.Debug("ike: IKE SA established", "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir),
			"remote", sa.remote, "peer", peer, "auth", kind, "suite", sa.suite)
	}
}
