package ike

import "fmt"

// UpdateAfterAddKE returns the keys of the IKE SA after an additional key
// exchange (RFC 9370 §2.2.2): with SK(n) the shared secret of the n-th
// additional exchange,
//
//	SKEYSEED(n) = prf(SK_d(n-1), SK(n) | Ni | Nr)
//	{SK_d(n) | SK_ai(n) | SK_ar(n) | SK_ei(n) | SK_er(n) | SK_pi(n) | SK_pr(n)}
//	    = prf+(SKEYSEED(n), Ni | Nr | SPIi | SPIr)
//
// with the nonces and SPIs of IKE_SA_INIT and the IKE SA's own PRF. k, the
// keys in force before the exchange, is left as it is: the IKE_INTERMEDIATE
// that carried SK(n) was protected with them, and its IntAuth (RFC 9242
// §3.3.2) uses their SK_pi and SK_pr.
func (k *IKEKeys) UpdateAfterAddKE(secret, ni, nr []byte, spii, spir SPI) (*IKEKeys, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("ike: key update after an additional key exchange: empty shared secret")
	}
	if len(k.SKd) == 0 {
		return nil, fmt.Errorf("ike: key update after an additional key exchange: no SK_d to update from")
	}
	if err := k.Suite.check(); err != nil {
		return nil, fmt.Errorf("ike: key update after an additional key exchange: %w", err)
	}
	skeyseed := k.Suite.PRF.Compute(k.SKd, secret, ni, nr)
	next, err := k.Suite.DeriveIKEKeys(skeyseed, ni, nr, spii, spir)
	if err != nil {
		return nil, fmt.Errorf("ike: key update after an additional key exchange: %w", err)
	}
	return next, nil
}
