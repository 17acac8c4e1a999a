package ike

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"time"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// Cookies implements the stateless cookies of RFC 7296 §2.6:
//
//	Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
//
// with a secret that changes every Rotate, the previous one still
// accepted so that a cookie issued just before a rotation still works.
// Hash is HMAC-SHA-256 keyed with the secret, truncated to 16 octets. It
// is safe for concurrent use.
type Cookies struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Rand supplies secrets; nil means crypto/rand.
	Rand io.Reader
	// Rotate is how long a secret is used; 0 means 5 minutes.
	Rotate time.Duration

	mu       sync.Mutex
	version  uint8
	current  []byte
	previous []byte
	since    time.Time
}

const cookieHashLen = 16

func (c *Cookies) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// rotate refreshes the secret if it is older than Rotate. Called with mu.
func (c *Cookies) rotate() error {
	period := c.Rotate
	if period <= 0 {
		period = 5 * time.Minute
	}
	now := c.now()
	if c.current != nil && now.Sub(c.since) < period {
		return nil
	}
	rnd := c.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	secret := make([]byte, 32)
	if _, err := io.ReadFull(rnd, secret); err != nil {
		return fmt.Errorf("ike: cookie secret: %w", err)
	}
	if c.current != nil && now.Sub(c.since) < 2*period {
		c.previous = c.current
	} else {
		c.previous = nil // both expired: old cookies must fail
	}
	c.current, c.since = secret, now
	c.version++
	return nil
}

func cookieHash(version uint8, secret, ni []byte, ipi netip.Addr, spii SPI) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(ni)
	m.Write(ipi.Unmap().AsSlice())
	m.Write(spii[:])
	return append([]byte{version}, m.Sum(nil)[:cookieHashLen]...)
}

// Make returns the cookie for an IKE_SA_INIT request with nonce ni from
// initiator address ipi and SPI spii.
func (c *Cookies) Make(ni []byte, ipi netip.Addr, spii SPI) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.rotate(); err != nil {
		return nil, err
	}
	return cookieHash(c.version, c.current, ni, ipi, spii), nil
}

// Notify returns the COOKIE notify to answer such a request with.
func (c *Cookies) Notify(ni []byte, ipi netip.Addr, spii SPI) (*wire.Notify, error) {
	v, err := c.Make(ni, ipi, spii)
	if err != nil {
		return nil, err
	}
	return &wire.Notify{NotifyType: wire.NotifyCookie, Data: v}, nil
}

// Verify reports whether cookie is one we issued, under the current or
// the previous secret, for this nonce, address and SPI.
func (c *Cookies) Verify(cookie, ni []byte, ipi netip.Addr, spii SPI) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.rotate(); err != nil || len(cookie) != 1+cookieHashLen {
		return false
	}
	switch cookie[0] {
	case c.version:
		return hmac.Equal(cookie, cookieHash(c.version, c.current, ni, ipi, spii))
	case c.version - 1:
		return c.previous != nil && hmac.Equal(cookie, cookieHash(c.version-1, c.previous, ni, ipi, spii))
	}
	return false
}
