package ike

import (
	"errors"
	"testing"
)

// A NULL-authenticating initiator that names no responder (no IDr) and
// announces SIGNATURE_HASH_ALGORITHMS gets the responder's signature, as
// Libreswan's DNSSEC OE client (leftauth=null, rightauth=rsasig) expects;
// one that sends IDr(ID_NULL), as our own NULL initiator does, gets NULL
// (TestHandshakeAuthMethods/null).
func TestResponderSignsForNullInitiatorWithoutIDr(t *testing.T) {
	s := signers(t)
	n, a, b := newPair(t, nil, s["rsa"], nil)
	var tr Trace
	info, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindPubkey, PeerID: AddrIdentity(b.addr), Trace: &tr})
	if err != nil {
		t.Fatal(err)
	}
	checkChildPair(t, a, b, info)
	if !tr.PeerAuthVerified || tr.PeerAuthMethod != AuthDigitalSignature || !SameIdentity(tr.PeerID, AddrIdentity(b.addr)) {
		t.Errorf("trace: verified %v method %v ID %v; want B's verified signature under its address",
			tr.PeerAuthVerified, tr.PeerAuthMethod, tr.PeerID)
	}
	if bs := b.established(); len(bs) != 1 || bs[0].PeerAuth != AuthKindNull || bs[0].PeerID.Type != IDNull {
		t.Errorf("B's view: %+v; want one SA with an anonymous NULL peer", bs)
	}
}

// nullKeepingPolicy is a PeerPolicy that answers NULL with NULL.
type nullKeepingPolicy struct{ *fakePolicy }

func (nullKeepingPolicy) SignForNull(AuthRequest) bool { return false }

// A policy implementing NullSignPolicy can keep the NULL answer (oe does,
// for configured conns with NULL authentication): an initiator that wants
// a signature then refuses the responder.
func TestResponderNullSignPolicyKeepsNull(t *testing.T) {
	s := signers(t)
	n, a, b := newPair(t, nil, s["rsa"], func(c *EngineConfig) {
		if fp, ok := c.Policy.(*fakePolicy); ok {
			c.Policy = nullKeepingPolicy{fp}
		}
	})
	_, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindPubkey, PeerID: AddrIdentity(b.addr)})
	if !errors.Is(err, ErrAuthentication) {
		t.Fatalf("err = %v; want ErrAuthentication (B answered NULL, A wanted its signature)", err)
	}
	n, a, b = newPair(t, nil, s["rsa"], func(c *EngineConfig) {
		if fp, ok := c.Policy.(*fakePolicy); ok {
			c.Policy = nullKeepingPolicy{fp}
		}
	})
	var tr Trace
	if _, err := n.initiate(a, b, InitiateOptions{Auth: AuthKindNull, PeerAuth: AuthKindNull, Trace: &tr}); err != nil || tr.PeerAuthMethod != AuthNull {
		t.Fatalf("NULL both ways: err %v, peer method %v", err, tr.PeerAuthMethod)
	}
}
