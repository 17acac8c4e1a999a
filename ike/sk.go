package ike

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/oemesh/oemesh/ike/internal/wire"
	"golang.org/x/crypto/chacha20poly1305"
)

// SKCipher protects SK and SKF payloads in one direction of an IKE SA
// (RFC 7296 §3.14, RFC 5282 for AES-GCM, RFC 7634 for ChaCha20-Poly1305).
// It is safe for concurrent use.
//
// It keeps only the keys: the cipher state (an AES key schedule and GCM
// table, ≈ 750 octets) is built for each message. An established IKE SA
// protects a message every liveness interval at most, so an idle SA stays
// small; building the state costs well under a microsecond.
type SKCipher struct {
	encr  EncrAlg
	integ IntegID

	// keys is the encryption key, then the AEAD salt or the integrity key.
	keys    []byte
	counter atomic.Uint64 // AEAD IVs: a counter never repeats under one key

	// Rand supplies CBC IVs; nil means crypto/rand.
	Rand io.Reader
}

// NewSKCipher builds the protection for one direction from its keys
// (SK_ei and SK_ai, or SK_er and SK_ar). AEAD keys carry their salt at the
// end, as the key schedule produces them.
func NewSKCipher(encr EncrAlg, integ IntegID, encKey, integKey []byte) (*SKCipher, error) {
	if err := encr.check(); err != nil {
		return nil, err
	}
	if err := integ.check(); err != nil {
		return nil, err
	}
	if encr.ID.AEAD() != (integ == IntegNone) {
		return nil, fmt.Errorf("ike: SK cipher %v with INTEG %v: AEAD ciphers take no INTEG, others need one", encr, integ)
	}
	if len(encKey) != encr.KeyLen() {
		return nil, fmt.Errorf("ike: SK cipher %v: key of %d octets, want %d", encr, len(encKey), encr.KeyLen())
	}
	if len(integKey) != integ.KeyLen() {
		return nil, fmt.Errorf("ike: SK cipher %v: integrity key of %d octets, want %d", integ, len(integKey), integ.KeyLen())
	}
	c := &SKCipher{encr: encr, integ: integ}
	c.keys = make([]byte, 0, len(encKey)+len(integKey))
	c.keys = append(append(c.keys, encKey...), integKey...)
	// No cipher state is built here to try the key: encr.check allows only
	// key sizes the ciphers take (AES 128, 192 or 256 bits; ChaCha20 256),
	// and the length was checked above, so aes.NewCipher and
	// chacha20poly1305.New cannot refuse it. A handshake installs four SK
	// ciphers per key set, each used for a message or two, so trying each
	// key cost as much again as the messages themselves.
	return c, nil
}

// cipherKey is the encryption key without the salt.
func (c *SKCipher) cipherKey() []byte {
	return c.keys[:len(c.keys)-encrs[c.encr.ID].saltLen-c.integ.KeyLen()]
}

// salt is the AEAD's implicit nonce part.
func (c *SKCipher) salt() []byte {
	n := encrs[c.encr.ID].saltLen
	return c.keys[len(c.keys)-n:]
}

func (c *SKCipher) integKey() []byte { return c.keys[len(c.keys)-c.integ.KeyLen():] }

// aead builds the AEAD state of an AEAD cipher.
func (c *SKCipher) aead() (cipher.AEAD, error) {
	var a cipher.AEAD
	var err error
	switch c.encr.ID {
	case EncrAESGCM16:
		var b cipher.Block
		if b, err = aes.NewCipher(c.cipherKey()); err == nil {
			a, err = cipher.NewGCM(b)
		}
	case EncrChaCha20Poly1305:
		a, err = chacha20poly1305.New(c.cipherKey())
	default:
		err = fmt.Errorf("not an AEAD cipher")
	}
	if err != nil {
		return nil, fmt.Errorf("ike: SK cipher %v: %w", c.encr, err)
	}
	return a, nil
}

// block builds the block cipher of a cipher with separate integrity.
func (c *SKCipher) block() (cipher.Block, error) {
	b, err := aes.NewCipher(c.cipherKey())
	if err != nil {
		return nil, fmt.Errorf("ike: SK cipher %v: %w", c.encr, err)
	}
	return b, nil
}

func (c *SKCipher) ivLen() int { return encrs[c.encr.ID].ivLen }

func (c *SKCipher) icvLen() int {
	if c.encr.ID.AEAD() {
		return encrs[c.encr.ID].icvLen
	}
	return c.integ.ICVLen()
}

// Overhead returns how many octets protecting n octets of payloads adds:
// IV, padding, pad length and ICV.
func (c *SKCipher) Overhead(n int) int { return c.SealedLen(n) - n }

// SealedLen is the length of IV | ciphertext | ICV for n plaintext octets.
func (c *SKCipher) SealedLen(n int) int {
	bs := encrs[c.encr.ID].blockSize
	padded := (n + 1 + bs - 1) / bs * bs
	return c.ivLen() + padded + c.icvLen()
}

// Seal appends IV | ciphertext | ICV to aad, the message octets that
// precede the IV (header and SK/SKF payload header), and returns the whole
// message. The caller has already written the final lengths into aad.
func (c *SKCipher) Seal(aad, plaintext []byte) ([]byte, error) {
	n := c.SealedLen(len(plaintext))
	out := make([]byte, len(aad), len(aad)+n)
	copy(out, aad)
	padded := len(plaintext) + (n - c.ivLen() - c.icvLen() - len(plaintext))
	pt := make([]byte, padded)
	copy(pt, plaintext)
	pt[padded-1] = byte(padded - len(plaintext) - 1) // pad length; padding octets are zero
	return c.sealPadded(out, pt)
}

// sealPadded encrypts pt, already padded and ending in its pad length,
// appending IV | ciphertext | ICV to aad.
func (c *SKCipher) sealPadded(aad, pt []byte) ([]byte, error) {
	out := aad
	if c.encr.ID.AEAD() {
		a, err := c.aead()
		if err != nil {
			return nil, err
		}
		iv := make([]byte, 8)
		binary.BigEndian.PutUint64(iv, c.counter.Add(1))
		nonce := append(append(make([]byte, 0, 12), c.salt()...), iv...)
		out = append(out, iv...)
		return a.Seal(out, nonce, pt, aad[:len(aad):len(aad)]), nil
	}
	block, err := c.block()
	if err != nil {
		return nil, err
	}
	rnd := c.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	iv := make([]byte, c.ivLen())
	if _, err := io.ReadFull(rnd, iv); err != nil {
		return nil, fmt.Errorf("ike: SK payload: IV: %w", err)
	}
	out = append(out, iv...)
	ct := make([]byte, len(pt))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, pt)
	out = append(out, ct...)
	mac := hmac.New(integs[c.integ].hash, c.integKey())
	mac.Write(out)
	return append(out, mac.Sum(nil)[:c.icvLen()]...), nil
}

// Open checks and decrypts body (IV | ciphertext | ICV) whose integrity
// also covers aad, and strips the padding. what names the payload in
// errors ("SK", "SKF fragment 2/3"). Integrity failures wrap ErrIntegrity.
func (c *SKCipher) Open(what string, aad, body []byte) ([]byte, error) {
	iv, icv := c.ivLen(), c.icvLen()
	bs := encrs[c.encr.ID].blockSize
	if len(body) < iv+icv+bs {
		return nil, fmt.Errorf("ike: %s payload: %w", what, wire.SyntaxErrorf("%d octets, less than IV %d + one block %d + ICV %d", len(body), iv, bs, icv))
	}
	ctLen := len(body) - iv - icv
	if ctLen%bs != 0 {
		return nil, fmt.Errorf("ike: %s payload: %w", what, wire.SyntaxErrorf("ciphertext of %d octets is not a multiple of the block size %d", ctLen, bs))
	}
	var pt []byte
	if c.encr.ID.AEAD() {
		a, err := c.aead()
		if err != nil {
			return nil, err
		}
		nonce := append(append(make([]byte, 0, 12), c.salt()...), body[:iv]...)
		pt, err = a.Open(nil, nonce, body[iv:], aad)
		if err != nil {
			return nil, fmt.Errorf("ike: %s payload: %w", what, ErrIntegrity)
		}
	} else {
		block, err := c.block()
		if err != nil {
			return nil, err
		}
		mac := hmac.New(integs[c.integ].hash, c.integKey())
		mac.Write(aad)
		mac.Write(body[:iv+ctLen])
		if subtle.ConstantTimeCompare(mac.Sum(nil)[:icv], body[iv+ctLen:]) != 1 {
			return nil, fmt.Errorf("ike: %s payload: %w", what, ErrIntegrity)
		}
		pt = make([]byte, ctLen)
		cipher.NewCBCDecrypter(block, body[:iv]).CryptBlocks(pt, body[iv:iv+ctLen])
	}
	padLen := int(pt[len(pt)-1])
	if padLen+1 > len(pt) {
		return nil, fmt.Errorf("ike: %s payload: %w", what, wire.SyntaxErrorf("pad length %d exceeds plaintext of %d octets", padLen, len(pt)))
	}
	return pt[:len(pt)-1-padLen], nil
}
