package ike

import (
	"crypto"
	"errors"
	"net/netip"
	"testing"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// TestPerInitiationLocalID: an initiation's LocalID (a conn's own
// local_id) is what we claim and sign, not Credentials.ID; the responder
// claims what Credentials.IDFor chooses for the peer.
func TestPerInitiationLocalID(t *testing.T) {
	n := newMemNet(t)
	ka, kb := newEd25519(t), newEd25519(t)
	var asked []Identity
	a := n.addPeer(addrA, ka, func(c *EngineConfig) { c.Credentials.ID = FQDNIdentity("daemon-a.example") })
	b := n.addPeer(addrB, kb, func(c *EngineConfig) {
		c.Credentials.ID = FQDNIdentity("daemon-b.example")
		c.Credentials.IDFor = func(peer Identity, remote netip.Addr, idr Identity) (Identity, bool) {
			asked = append(asked, peer, idr)
			if SameIdentity(peer, FQDNIdentity("west.example")) && remote == addrA {
				return FQDNIdentity("east.example"), true
			}
			return Identity{}, false
		}
	})
	// Each side knows the other only under the conn's identity.
	a.keys.keys[FQDNIdentity("east.example").String()] = []crypto.PublicKey{kb.Public()}
	b.keys.keys[FQDNIdentity("west.example").String()] = []crypto.PublicKey{ka.Public()}
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, LocalID: FQDNIdentity("west.example"), PeerID: FQDNIdentity("east.example")})
	if err != nil {
		t.Fatal(err)
	}
	checkChildPair(t, a, b, info)
	if id := b.established()[0].PeerID; !SameIdentity(id, FQDNIdentity("west.example")) {
		t.Errorf("B sees %v, want west.example", id)
	}
	if id := a.established()[0].PeerID; !SameIdentity(id, FQDNIdentity("east.example")) {
		t.Errorf("A sees %v, want east.example", id)
	}
	if len(asked) != 2 || !SameIdentity(asked[1], FQDNIdentity("east.example")) {
		t.Errorf("IDFor asked with %v, want the peer and the IDr it named", asked)
	}

	// Without LocalID the daemon's identity is claimed, which B has no
	// key for: the conn's identity was what made the first one work.
	_, err = n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey, PeerID: FQDNIdentity("east.example")})
	var ne *NotifyError
	if !errors.As(err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
		t.Errorf("initiating as daemon-a.example: err %v, want AUTHENTICATION_FAILED", err)
	}
}

// TestResponderIDForDeclines: IDFor saying no leaves Credentials.ID.
func TestResponderIDForDeclines(t *testing.T) {
	n := newMemNet(t)
	ka, kb := newEd25519(t), newEd25519(t)
	a := n.addPeer(addrA, ka, nil)
	b := n.addPeer(addrB, kb, func(c *EngineConfig) {
		c.Credentials.ID = FQDNIdentity("daemon-b.example")
		c.Credentials.IDFor = func(Identity, netip.Addr, Identity) (Identity, bool) { return Identity{}, false }
	})
	a.keys.keys[FQDNIdentity("daemon-b.example").String()] = []crypto.PublicKey{kb.Public()}
	b.trust(a)
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindPubkey}); err != nil {
		t.Fatal(err)
	}
	if id := a.established()[0].PeerID; !SameIdentity(id, FQDNIdentity("daemon-b.example")) {
		t.Errorf("A sees %v", id)
	}
}
