package ike

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// EncrID is an encryption algorithm (transform type 1).
type EncrID uint16

// Encryption algorithms we implement.
const (
	EncrAESCBC           EncrID = 12
	EncrAESGCM16         EncrID = 20
	EncrChaCha20Poly1305 EncrID = 28
)

// PRFID is a pseudo-random function (transform type 2).
type PRFID uint16

// PRFs. HMAC-SHA1 exists only for the NIST CAVS known-answer test of the
// key schedule; it is never offered or accepted.
const (
	PRFHMACSHA1     PRFID = 2
	PRFHMACSHA2_256 PRFID = 5
	PRFHMACSHA2_384 PRFID = 6
	PRFHMACSHA2_512 PRFID = 7
)

// IntegID is an integrity algorithm (transform type 3).
type IntegID uint16

// Integrity algorithms.
const (
	IntegNone             IntegID = 0
	IntegHMACSHA2_256_128 IntegID = 12
	IntegHMACSHA2_384_192 IntegID = 13
	IntegHMACSHA2_512_256 IntegID = 14
)

// ESN is the Extended Sequence Numbers transform (type 5).
type ESN uint16

// ESN values.
const (
	ESNOff ESN = 0
	ESNOn  ESN = 1
)

// understood reports whether we know what transform type t means, i.e.
// whether a proposal carrying it can be judged at all: RFC 7296's types 1
// to 5 and RFC 9370's ADDKE1 to ADDKE7 (6 to 12).
func understood(t TransformType) bool { return t >= TransformENCR && t <= TransformADDKE7 }

type encrInfo struct {
	aead      bool
	keyBits   []int // allowed values of the Key Length attribute; nil: none allowed
	fixedKey  int   // key octets when keyBits is nil
	saltLen   int   // implicit nonce octets appended to the key (RFC 5282, 7634)
	ivLen     int   // explicit IV octets in each SK payload
	blockSize int   // padding granularity
	icvLen    int   // AEAD tag length
}

var encrs = map[EncrID]encrInfo{
	EncrAESCBC:           {keyBits: []int{128, 192, 256}, ivLen: 16, blockSize: 16},
	EncrAESGCM16:         {aead: true, keyBits: []int{128, 192, 256}, saltLen: 4, ivLen: 8, blockSize: 1, icvLen: 16},
	EncrChaCha20Poly1305: {aead: true, fixedKey: 32, saltLen: 4, ivLen: 8, blockSize: 1, icvLen: 16},
}

func (e EncrID) String() string { return wire.TransformIDName(TransformENCR, uint16(e)) }

// AEAD reports whether e is a combined-mode cipher that needs no INTEG.
func (e EncrID) AEAD() bool { return encrs[e].aead }

// EncrAlg is an encryption algorithm together with its key length.
type EncrAlg struct {
	ID      EncrID
	KeyBits int // 0 for ciphers without a Key Length attribute
}

func (a EncrAlg) String() string { return wire.EncrName(uint16(a.ID), a.KeyBits) }

// check reports whether the algorithm and key length are implemented.
func (a EncrAlg) check() error {
	info, ok := encrs[a.ID]
	if !ok {
		return fmt.Errorf("ike: encryption algorithm %v not implemented", a.ID)
	}
	if info.keyBits == nil {
		if a.KeyBits != 0 {
			return fmt.Errorf("ike: %v takes no key length, got %d", a.ID, a.KeyBits)
		}
		return nil
	}
	for _, k := range info.keyBits {
		if k == a.KeyBits {
			return nil
		}
	}
	return fmt.Errorf("ike: %v key length %d not supported", a.ID, a.KeyBits)
}

// KeyLen is the octets of keying material the cipher takes from the key
// schedule: key plus salt for AEADs.
func (a EncrAlg) KeyLen() int {
	info := encrs[a.ID]
	if info.keyBits == nil {
		return info.fixedKey + info.saltLen
	}
	return a.KeyBits/8 + info.saltLen
}

type prfInfo struct {
	hash func() hash.Hash
	size int // the hash's output length, without making one to ask it
}

var prfs = map[PRFID]prfInfo{
	PRFHMACSHA1:     {sha1.New, sha1.Size},
	PRFHMACSHA2_256: {sha256.New, sha256.Size},
	PRFHMACSHA2_384: {sha512.New384, sha512.Size384},
	PRFHMACSHA2_512: {sha512.New, sha512.Size},
}

func (p PRFID) String() string { return wire.TransformIDName(TransformPRF, uint16(p)) }

// Size is the PRF output length in octets (and the length of SK_d,
// SK_pi and SK_pr).
func (p PRFID) Size() int {
	if i, ok := prfs[p]; ok {
		return i.size
	}
	return 0
}

func (p PRFID) check() error {
	if _, ok := prfs[p]; !ok {
		return fmt.Errorf("ike: PRF %v not implemented", p)
	}
	return nil
}

// Compute returns prf(key, data[0] | data[1] | ...).
func (p PRFID) Compute(key []byte, data ...[]byte) []byte {
	return hmacSum(prfs[p].hash, key, data...)
}

type integInfo struct {
	hash   func() hash.Hash
	keyLen int
	icvLen int
}

var integs = map[IntegID]integInfo{
	IntegHMACSHA2_256_128: {sha256.New, 32, 16},
	IntegHMACSHA2_384_192: {sha512.New384, 48, 24},
	IntegHMACSHA2_512_256: {sha512.New, 64, 32},
}

func (i IntegID) String() string { return wire.TransformIDName(TransformINTEG, uint16(i)) }

// KeyLen is the integrity key length in octets (0 for NONE).
func (i IntegID) KeyLen() int { return integs[i].keyLen }

// ICVLen is the truncated MAC length in octets (0 for NONE).
func (i IntegID) ICVLen() int { return integs[i].icvLen }

func (i IntegID) check() error {
	if i == IntegNone {
		return nil
	}
	if _, ok := integs[i]; !ok {
		return fmt.Errorf("ike: integrity algorithm %v not implemented", i)
	}
	return nil
}

func (e ESN) String() string { return wire.TransformIDName(TransformESN, uint16(e)) }
