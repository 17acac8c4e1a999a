package userspace

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/oemesh/oemesh/kernel"
)

// ESP wire layout (RFC 4303 §2, with the 8-byte explicit IV of RFC 4106 §3
// and RFC 7634 §2):
//
//	SPI(4) | Sequence Number low 32 bits(4) | IV(8) |
//	payload | padding | pad length(1) | next header(1) | ICV(16)
//
// Padding brings payload+2 to a multiple of 4 and its bytes are 1, 2, 3, as
// RFC 4303 §2.4 says and the Linux kernel writes them. The IV is the 64-bit
// sequence number, unique per key as both AEADs require (the kernel's seqiv
// XORs it with a per-SA random value; any unique IV interoperates).
const (
	espHeaderLen = 8
	espIVLen     = 8
	espICVLen    = 16
	espPrefixLen = espHeaderLen + espIVLen      // before the payload
	espMinLen    = espPrefixLen + 2 + espICVLen // with an empty payload
	espMaxPad    = 3
	espTrailer   = espMaxPad + 2 + espICVLen // most bytes added after the payload
	saltLen      = 4

	protoNone = 59 // IPv6 "no next header": a dummy packet (RFC 4303 §2.6)
)

// Errors for SA set-up. Data-path failures are dropReasons, not errors.
var (
	errKeyLength = errors.New("wrong key length")
	errAEAD      = errors.New("unsupported AEAD")
)

// espCipher is one SA direction's keys and AEAD state. The state (for
// AES-GCM a key schedule and a GHASH table, ≈ 770 bytes) is built at
// install, released by the expiry loop once the direction has been idle
// for Config.CipherIdle, and built again by the next packet: an idle peer
// keeps its keys and not its cipher state. It is safe for concurrent use.
type espCipher struct {
	spi    uint32
	alg    kernel.AEAD
	esn    bool
	keyLen uint8
	salt   [saltLen]byte
	keyBuf [32]byte // the key without the salt: keyBuf[:keyLen]
	state  atomic.Pointer[aeadState]
}

// aeadState boxes the AEAD so that it can be swapped atomically.
type aeadState struct{ cipher.AEAD }

// newESPCipher checks a key whose last 4 bytes are the salt (RFC 4106
// §8.1, RFC 7634 §2) and builds its AEAD.
func newESPCipher(spi uint32, alg kernel.AEAD, key []byte, esn bool) (*espCipher, error) {
	c := new(espCipher)
	return c, c.init(spi, alg, key, esn)
}

// init is newESPCipher in place, for a cipher embedded in its SA.
func (c *espCipher) init(spi uint32, alg kernel.AEAD, key []byte, esn bool) error {
	c.spi, c.alg, c.esn = spi, alg, esn
	switch alg {
	case kernel.AESGCM16:
		switch len(key) {
		case 16 + saltLen, 24 + saltLen, 32 + saltLen:
		default:
			return fmt.Errorf("%s: %w: %d bytes, want 20, 28 or 36 (key and 4-byte salt)", alg, errKeyLength, len(key))
		}
	case kernel.ChaCha20Poly1305:
		if len(key) != chacha20poly1305.KeySize+saltLen {
			return fmt.Errorf("%s: %w: %d bytes, want 36 (key and 4-byte salt)", alg, errKeyLength, len(key))
		}
	default:
		return fmt.Errorf("%w: %d", errAEAD, alg)
	}
	c.keyLen = uint8(copy(c.keyBuf[:], key[:len(key)-saltLen]))
	copy(c.salt[:], key[len(key)-saltLen:])
	a, err := c.build()
	if err != nil {
		return err
	}
	c.state.Store(&aeadState{a})
	return nil
}

func (c *espCipher) key() []byte { return c.keyBuf[:c.keyLen] }

func (c *espCipher) build() (cipher.AEAD, error) {
	var a cipher.AEAD
	var err error
	switch c.alg {
	case kernel.AESGCM16:
		var b cipher.Block
		if b, err = aes.NewCipher(c.key()); err == nil {
			a, err = cipher.NewGCM(b)
		}
	case kernel.ChaCha20Poly1305:
		a, err = chacha20poly1305.New(c.key())
	default:
		err = errAEAD
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.alg, err)
	}
	return a, nil
}

// aead returns the AEAD state, building it again if the expiry loop
// released it. The key was checked at install, so building cannot fail.
func (c *espCipher) aead() cipher.AEAD {
	for {
		if s := c.state.Load(); s != nil {
			return s.AEAD
		}
		a, err := c.build()
		if err != nil {
			panic("userspace: rebuilding a checked ESP cipher: " + err.Error())
		}
		if c.state.CompareAndSwap(nil, &aeadState{a}) {
			return a
		}
	}
}

// release drops the AEAD state; the next packet builds it again.
func (c *espCipher) release() { c.state.Store(nil) }

// built reports whether the AEAD state is in memory.
func (c *espCipher) built() bool { return c.state.Load() != nil }

// cryptoScratch holds the nonce and the ESN additional data of one packet.
// Each worker owns one, so that neither escapes to the heap per packet.
type cryptoScratch struct {
	nonce [saltLen + espIVLen]byte
	aad   [12]byte
}

// padFor returns the number of padding bytes for a payload of n bytes.
func padFor(n int) int { return (4 - (n+2)%4) % 4 }

// seal turns the payload at buf[off:off+n] into an ESP packet in place and
// returns it. The ESP header and IV are written into buf[off-16:off] and the
// trailer and ICV after the payload, so buf needs 16 bytes of headroom
// before off and espTrailer bytes after the payload (callers size their
// buffers for that). seq is the full 64-bit sequence number.
func (c *espCipher) seal(buf []byte, off, n int, nextHdr byte, seq uint64, sc *cryptoScratch) []byte {
	start := off - espPrefixLen
	h := buf[start:off]
	binary.BigEndian.PutUint32(h[0:4], c.spi)
	binary.BigEndian.PutUint32(h[4:8], uint32(seq))
	binary.BigEndian.PutUint64(h[8:16], seq)

	pad := padFor(n)
	end := off + n
	for i := 1; i <= pad; i++ {
		buf[end] = byte(i)
		end++
	}
	buf[end] = byte(pad)
	buf[end+1] = nextHdr
	end += 2

	copy(sc.nonce[:saltLen], c.salt[:])
	copy(sc.nonce[saltLen:], h[8:16])
	aad := c.aadFor(h, seq, sc)
	out := c.aead().Seal(buf[off:off], sc.nonce[:], buf[off:end], aad)
	return buf[start : off+len(out)]
}

// aadFor returns the additional authenticated data: SPI || seq-lo, or with
// ESN SPI || seq-hi || seq-lo (RFC 4106 §5, RFC 7634 §2.1).
func (c *espCipher) aadFor(h []byte, seq uint64, sc *cryptoScratch) []byte {
	if !c.esn {
		return h[0:espHeaderLen]
	}
	binary.BigEndian.PutUint32(sc.aad[0:4], c.spi)
	binary.BigEndian.PutUint64(sc.aad[4:12], seq)
	return sc.aad[:]
}

// espSPI returns the SPI of an ESP packet, or ok=false when it is shorter
// than the smallest valid ESP packet.
func espSPI(esp []byte) (spi uint32, ok bool) {
	if len(esp) < espMinLen {
		return 0, false
	}
	return binary.BigEndian.Uint32(esp[0:4]), true
}

// espSeqLo returns the low 32 bits of the sequence number on the wire.
// Callers have checked the length with espSPI.
func espSeqLo(esp []byte) uint32 { return binary.BigEndian.Uint32(esp[4:8]) }

// open authenticates and decrypts esp in place, given the full sequence
// number the replay window inferred. It returns the inner payload (a slice
// of esp) and the next header. It does not touch the replay window.
func (c *espCipher) open(esp []byte, seq uint64, sc *cryptoScratch) (payload []byte, nextHdr byte, r dropReason) {
	if len(esp) < espMinLen {
		return nil, 0, dropTruncated
	}
	h := esp[:espPrefixLen]
	copy(sc.nonce[:saltLen], c.salt[:])
	copy(sc.nonce[saltLen:], h[8:16])
	aad := c.aadFor(h, seq, sc)
	ct := esp[espPrefixLen:]
	pt, err := c.aead().Open(ct[:0], sc.nonce[:], ct, aad)
	if err != nil {
		return nil, 0, dropAuth
	}
	padLen := int(pt[len(pt)-2])
	nextHdr = pt[len(pt)-1]
	if padLen+2 > len(pt) {
		return nil, 0, dropTrailer
	}
	return pt[:len(pt)-2-padLen], nextHdr, dropNone
}
