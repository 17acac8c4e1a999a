package ike

import "encoding/binary"

// intAuthChain is the IntAuth chain of RFC 9242 §3.3.2, which binds the
// IKE_INTERMEDIATE messages into the AUTH payloads of IKE_AUTH:
//
//	IntAuth_i1 = prf(SK_pi1,              IntAuth_i1A | IntAuth_i1P)
//	IntAuth_i2 = prf(SK_pi2, IntAuth_i1 | IntAuth_i2A | IntAuth_i2P)
//	...
//	IntAuth_r1 = prf(SK_pr1,              IntAuth_r1A | IntAuth_r1P)
//	...
//
// where A|P is wire.Message.IntAuthOctets (or IntAuthParts, A and P apart) of the n-th request (i) or
// response (r), and SK_pin/SK_prn are the keys in force when that message
// was sent: the keys before the update that its exchange's additional key
// exchange brings (RFC 9370 §2.2.2). The zero value is the empty chain of
// an IKE SA without IKE_INTERMEDIATE. It is not yet wired into the engine.
type intAuthChain struct {
	n    int    // IKE_INTERMEDIATE exchanges folded in
	i, r []byte // IntAuth_iN, IntAuth_rN
}

// addRequest folds in the octets of the next IKE_INTERMEDIATE request (A
// and P, as wire.Message.IntAuthParts returns them), with the SK_pi in
// force when it was sent.
func (c *intAuthChain) addRequest(p PRFID, skpi, a, octetsP []byte) {
	c.i = p.Compute(skpi, c.i, a, octetsP)
}

// addResponse folds in the octets of the response to the request last
// added, with the SK_pr in force when it was sent, and closes the exchange.
func (c *intAuthChain) addResponse(p PRFID, skpr, a, octetsP []byte) {
	c.r = p.Compute(skpr, c.r, a, octetsP)
	c.n++
}

// authOctets is what the signed octets of both sides' AUTH end with (RFC
// 9242 §3.3.2): IntAuth = IntAuth_iN | IntAuth_rN | IKE_AUTH_MID, the
// last being the Message ID of the IKE_AUTH request in 4 octets, network
// order. Without IKE_INTERMEDIATE it is empty, and AUTH is RFC 7296's.
func (c *intAuthChain) authOctets(authMID uint32) []byte {
	if c.n == 0 {
		return nil
	}
	return c.appendAuthOctets(make([]byte, 0, c.authOctetsLen()), authMID)
}

// authOctetsLen is the length of authOctets.
func (c *intAuthChain) authOctetsLen() int {
	if c.n == 0 {
		return 0
	}
	return len(c.i) + len(c.r) + 4
}

// appendAuthOctets appends authOctets to b.
func (c *intAuthChain) appendAuthOctets(b []byte, authMID uint32) []byte {
	if c.n == 0 {
		return b
	}
	b = append(append(b, c.i...), c.r...)
	return binary.BigEndian.AppendUint32(b, authMID)
}

// signedOctetsWithIntAuth is SignedOctets followed by the IntAuth of the
// chain (RFC 9242 §3.3.2):
//
//	InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI | IntAuth
//	ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR | IntAuth
//
// MACedIDFor[I|R] uses the SK_pi/SK_pr after the last key update.
func signedOctetsWithIntAuth(p PRFID, realMessage, peerNonce, skp []byte, id Identity, chain *intAuthChain, authMID uint32) []byte {
	mac := p.Compute(skp, id.RestOfIDPayload())
	// One buffer for all of it: RealMessage is the whole IKE_SA_INIT
	// message, which growing the buffer for IntAuth would copy again.
	out := make([]byte, 0, len(realMessage)+len(peerNonce)+len(mac)+chain.authOctetsLen())
	out = append(append(append(out, realMessage...), peerNonce...), mac...)
	return chain.appendAuthOctets(out, authMID)
}
