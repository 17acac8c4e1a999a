package ike

import (
	"crypto"
	"net/netip"
	"sync"
	"testing"
)

// localKeys is a KeyResolver with keys at hand (LocalKeyResolver) for
// the identities in local, counting both kinds of call.
type localKeys struct {
	countingKeys
	local       map[string][]crypto.PublicKey
	localCalls  int
	localMu     sync.Mutex
	spawnedKeys int
}

func (l *localKeys) LocalPeerKeys(peer Identity, _ netip.Addr) ([]crypto.PublicKey, bool) {
	l.localMu.Lock()
	defer l.localMu.Unlock()
	l.localCalls++
	k, ok := l.local[peer.String()]
	return k, ok
}

// TestLocalPeerKeys: the responder's resolver holds the initiator's key in
// memory (a configured conn's key file): the engine takes it without
// spawning a look-up, and PeerKeys is not asked. A peer it holds no key
// for goes to PeerKeys on a goroutine, as before.
func TestLocalPeerKeys(t *testing.T) {
	for _, tc := range []struct {
		name    string
		atHand  bool
		spawned int
	}{{"at hand", true, 0}, {"not at hand", false, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			n := newMemNet(t)
			var r *localKeys
			a := n.addPeer(addrA, newEd25519(t), nil)
			b := n.addPeer(addrB, newEd25519(t), func(c *EngineConfig) {
				r = &localKeys{countingKeys: countingKeys{KeyResolver: c.Keys}, local: map[string][]crypto.PublicKey{}}
				c.Keys = r
			})
			a.trust(b)
			b.trust(a)
			if tc.atHand {
				r.local[AddrIdentity(addrA).String()] = []crypto.PublicKey{a.signer.Public()}
			}
			b.e.spawn = func(f func()) { r.spawnedKeys++; f() }
			if _, err := n.initiate(a, b, InitiateOptions{Mode: ModeTunnel, Auth: AuthKindPubkey, PeerID: AddrIdentity(addrB)}); err != nil {
				t.Fatalf("initiate: %v", err)
			}
			if r.localCalls != 1 {
				t.Errorf("LocalPeerKeys asked %d times, want 1", r.localCalls)
			}
			if r.spawnedKeys != tc.spawned || r.calls != tc.spawned {
				t.Errorf("look-ups spawned %d, PeerKeys asked %d times; want %d each", r.spawnedKeys, r.calls, tc.spawned)
			}
			if b.inst.count() != 1 {
				t.Errorf("B installed %d CHILD SAs, want 1", b.inst.count())
			}
		})
	}
}
