package ike

import (
	"crypto/mlkem"
	"fmt"
)

// This file holds ML-KEM (FIPS 203) as an IKEv2 key exchange method
// (draft-ietf-ipsecme-ikev2-mlkem): the initiator's KE data is its
// encapsulation key, the responder's the ciphertext it encapsulated to that
// key, and the 32-octet shared secret takes the place of g^ir in the key
// derivation (RFC 7296 §2.14). The draft allows ML-KEM alone in
// IKE_SA_INIT as well as in additional key exchanges (RFC 9370).
//
// Go's crypto/mlkem implements ML-KEM-768 and ML-KEM-1024; ML-KEM-512
// (method 35) is refused.

// kemPrivate is the initiator's half of an ML-KEM exchange: the
// decapsulation key.
type kemPrivate struct {
	group  DHGroup
	dk768  *mlkem.DecapsulationKey768
	dk1024 *mlkem.DecapsulationKey1024
}

// generateKEM creates a decapsulation key for method g.
func generateKEM(g DHGroup) (*kemPrivate, error) {
	k := &kemPrivate{group: g}
	var err error
	switch g {
	case DHMLKEM768:
		k.dk768, err = mlkem.GenerateKey768()
	case DHMLKEM1024:
		k.dk1024, err = mlkem.GenerateKey1024()
	default:
		return nil, errKEMNotImplemented(g)
	}
	if err != nil {
		return nil, fmt.Errorf("ike: %v: generate key: %w", g, err)
	}
	return k, nil
}

func errKEMNotImplemented(g DHGroup) error {
	if g == DHMLKEM512 {
		return fmt.Errorf("ike: key exchange method %v not implemented: Go's crypto/mlkem has only ML-KEM-768 and ML-KEM-1024", g)
	}
	return fmt.Errorf("ike: key exchange method %v not implemented", g)
}

// Group returns the method of k.
func (k *kemPrivate) Group() DHGroup { return k.group }

// Public returns the encapsulation key: the initiator's KE data.
func (k *kemPrivate) Public() []byte {
	if k.dk768 != nil {
		return k.dk768.EncapsulationKey().Bytes()
	}
	return k.dk1024.EncapsulationKey().Bytes()
}

// SharedSecret decapsulates the responder's ciphertext. Any ciphertext of
// the right length decapsulates (FIPS 203's implicit rejection gives a
// wrong secret, and then the peer's AUTH fails), so only the length can be
// refused here.
func (k *kemPrivate) SharedSecret(ct []byte) ([]byte, error) {
	if want := k.group.ResponseLen(); len(ct) != want {
		return nil, errKELength(k.group, "ciphertext", len(ct), want)
	}
	var s []byte
	var err error
	if k.dk768 != nil {
		s, err = k.dk768.Decapsulate(ct)
	} else {
		s, err = k.dk1024.Decapsulate(ct)
	}
	if err != nil {
		return nil, fmt.Errorf("ike: KE payload: %v ciphertext: %w: %v", k.group, ErrInvalidKE, err)
	}
	return s, nil
}

// encapsulateKEM is the responder's half: it checks the initiator's
// encapsulation key ek (its length, and FIPS 203 §7.2's modulus check,
// which crypto/mlkem does when it parses the key) and encapsulates a
// shared secret to it.
func encapsulateKEM(g DHGroup, ek []byte) (ct, secret []byte, err error) {
	if g != DHMLKEM768 && g != DHMLKEM1024 {
		return nil, nil, errKEMNotImplemented(g)
	}
	if want := g.PublicLen(); len(ek) != want {
		return nil, nil, errKELength(g, "encapsulation key", len(ek), want)
	}
	if g == DHMLKEM768 {
		k, err := mlkem.NewEncapsulationKey768(ek)
		if err != nil {
			return nil, nil, errKEMEncoding(g, err)
		}
		secret, ct = k.Encapsulate()
		return ct, secret, nil
	}
	k, err := mlkem.NewEncapsulationKey1024(ek)
	if err != nil {
		return nil, nil, errKEMEncoding(g, err)
	}
	secret, ct = k.Encapsulate()
	return ct, secret, nil
}

func errKEMEncoding(g DHGroup, err error) error {
	return fmt.Errorf("ike: KE payload: %v encapsulation key: %w: not a valid encoding (a coefficient not reduced modulo q): %v", g, ErrInvalidKE, err)
}
