package ike

import "testing"

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
	if !tr.PeerAuthVerified || tr.PeerAuthMethod != AuthDigitalSignature || !identityEqual(tr.PeerID, AddrIdentity(b.addr)) {
		t.Errorf("trace: verified %v method %v ID %v; want B's verified signature under its address",
			tr.PeerAuthVerified, tr.PeerAuthMethod, tr.PeerID)
	}
	if bs := b.established(); len(bs) != 1 || bs[0].PeerAuth != AuthKindNull || bs[0].PeerID.Type != IDNull {
		t.Errorf("B's view: %+v; want one SA with an anonymous NULL peer", bs)
	}
}
