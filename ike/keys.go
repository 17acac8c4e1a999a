package ike

import (
	"crypto/hmac"
	"fmt"
)

// prfPlus is prf+ of RFC 7296 §2.13: T1 | T2 | ... with
// Tn = prf(K, Tn-1 | S | n), truncated to n octets.
func prfPlus(p PRFID, key, seed []byte, n int) ([]byte, error) {
	size := p.Size()
	if size == 0 {
		return nil, fmt.Errorf("ike: prf+: PRF %v not implemented", p)
	}
	if n > 255*size {
		return nil, fmt.Errorf("ike: prf+: %d octets requested, at most %d with %v", n, 255*size, p)
	}
	// Each T(i) is summed straight into out, and the previous one read
	// back from there: no buffer per block, and one for the counter
	// octet rather than one per block.
	out := make([]byte, 0, n+size)
	m := hmac.New(prfs[p].hash, key)
	ctr := make([]byte, 1)
	for i := 1; len(out) < n; i++ {
		m.Reset()
		m.Write(out[max(0, len(out)-size):]) // T(i-1), empty for T(1)
		m.Write(seed)
		ctr[0] = byte(i)
		m.Write(ctr)
		out = m.Sum(out)
	}
	return out[:n], nil
}

// SKEYSEED computes prf(Ni | Nr, g^ir) (RFC 7296 §2.14).
func SKEYSEED(p PRFID, ni, nr, gir []byte) []byte {
	key := make([]byte, 0, len(ni)+len(nr))
	key = append(append(key, ni...), nr...)
	return p.Compute(key, gir)
}

// RekeySKEYSEED computes the SKEYSEED of an IKE SA that replaces an old
// one: prf(SK_d (old), g^ir (new) | Ni | Nr) with the old SA's PRF (RFC
// 7296 §2.18). When the rekey ran additional key exchanges in
// IKE_FOLLOWUP_KE, add holds their shared secrets SK(1) to SK(n) in
// order, and they follow the nonces (RFC 9370 §2.2.4):
// prf(SK_d (old), SK(0) | Ni | Nr | SK(1) | ... | SK(n)), SK(0) being
// gir, the secret of the CREATE_CHILD_SA's own KE.
func RekeySKEYSEED(oldPRF PRFID, oldSKd, gir, ni, nr []byte, add ...[]byte) []byte {
	return oldPRF.Compute(oldSKd, append([][]byte{gir, ni, nr}, add...)...)
}

// IKESuite is the negotiated algorithm set of an IKE SA.
type IKESuite struct {
	Encr  EncrAlg
	PRF   PRFID
	Integ IntegID // IntegNone with an AEAD
	DH    DHGroup
}

func (s IKESuite) String() string {
	return fmt.Sprintf("%v/%v/%v/%v", s.Encr, s.Integ, s.PRF, s.DH)
}

func (s IKESuite) check() error {
	if err := s.Encr.check(); err != nil {
		return err
	}
	if err := s.PRF.check(); err != nil {
		return err
	}
	if err := s.Integ.check(); err != nil {
		return err
	}
	if s.Encr.ID.AEAD() != (s.Integ == IntegNone) {
		return fmt.Errorf("ike: suite %v: AEAD ciphers take no INTEG, others need one", s)
	}
	return nil
}

// IKEKeys are the keys of one IKE SA (RFC 7296 §2.14).
type IKEKeys struct {
	Suite      IKESuite
	SKd        []byte
	SKai, SKar []byte // empty with an AEAD
	SKei, SKer []byte // AEAD keys include the salt
	SKpi, SKpr []byte
}

// DeriveIKEKeys computes {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi |
// SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr).
func (s IKESuite) DeriveIKEKeys(skeyseed, ni, nr []byte, spii, spir SPI) (*IKEKeys, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	prfLen, ik, ek := s.PRF.Size(), s.Integ.KeyLen(), s.Encr.KeyLen()
	seed := make([]byte, 0, len(ni)+len(nr)+16)
	seed = append(append(append(append(seed, ni...), nr...), spii[:]...), spir[:]...)
	km, err := prfPlus(s.PRF, skeyseed, seed, 3*prfLen+2*ik+2*ek)
	if err != nil {
		return nil, err
	}
	k := &IKEKeys{Suite: s}
	take := func(n int) []byte {
		b := km[:n:n]
		km = km[n:]
		return b
	}
	k.SKd = take(prfLen)
	k.SKai, k.SKar = take(ik), take(ik)
	k.SKei, k.SKer = take(ek), take(ek)
	k.SKpi, k.SKpr = take(prfLen), take(prfLen)
	return k, nil
}

// Ciphers returns the SK protection for messages the initiator sends
// (SK_ei/SK_ai) and for those the responder sends (SK_er/SK_ar).
func (k *IKEKeys) Ciphers() (fromInitiator, fromResponder *SKCipher, err error) {
	fromInitiator, err = NewSKCipher(k.Suite.Encr, k.Suite.Integ, k.SKei, k.SKai)
	if err != nil {
		return nil, nil, err
	}
	fromResponder, err = NewSKCipher(k.Suite.Encr, k.Suite.Integ, k.SKer, k.SKar)
	if err != nil {
		return nil, nil, err
	}
	return fromInitiator, fromResponder, nil
}

// ChildSuite is the negotiated algorithm set of a CHILD SA.
type ChildSuite struct {
	Encr  EncrAlg
	Integ IntegID
	DH    DHGroup // PFS group, DHNone without PFS
	ESN   bool
}

// ChildKeys are the ESP keys of a CHILD SA pair. AEAD keys include the
// 4-octet salt (RFC 4106 §8.1, RFC 7634 §3).
type ChildKeys struct {
	EncrI, IntegI []byte // initiator to responder
	EncrR, IntegR []byte // responder to initiator
}

// DeriveChildKeys computes KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr)
// (RFC 7296 §2.17) and splits it: initiator-to-responder encryption then
// integrity key, then the same for the other direction. gir is nil
// without PFS. add holds the shared secrets SK(1) to SK(n) of the
// additional key exchanges run in IKE_FOLLOWUP_KE, which follow the
// nonces (RFC 9370 §2.2.4): prf+(SK_d, SK(0) | Ni | Nr | SK(1) | ... |
// SK(n)).
func (s ChildSuite) DeriveChildKeys(p PRFID, skd, gir, ni, nr []byte, add ...[]byte) (*ChildKeys, error) {
	if err := s.Encr.check(); err != nil {
		return nil, err
	}
	if err := s.Integ.check(); err != nil {
		return nil, err
	}
	ek, ik := s.Encr.KeyLen(), s.Integ.KeyLen()
	seed := make([]byte, 0, len(gir)+len(ni)+len(nr))
	seed = append(append(append(seed, gir...), ni...), nr...)
	for _, sk := range add {
		seed = append(seed, sk...)
	}
	km, err := prfPlus(p, skd, seed, 2*(ek+ik))
	if err != nil {
		return nil, err
	}
	return &ChildKeys{
		EncrI: km[:ek:ek], IntegI: km[ek : ek+ik : ek+ik],
		EncrR: km[ek+ik : 2*ek+ik : 2*ek+ik], IntegR: km[2*ek+ik:],
	}, nil
}
