package ike

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// The responder's first line against a flood of IKE_SA_INIT requests
// (RFC 7296 §2.6). While cookies are demanded, a request is screened
// before it is parsed: its payload chain is walked for the nonce and the
// COOKIE notify only (wire.ScanInit, which allocates nothing), and a
// request without a valid cookie is answered with a cookie demand built
// in place, or dropped when its source has had its share of demands
// (InitLimits.SourceRate). Only a request whose cookie verifies, which
// proves the initiator receives at its address, is parsed in full and
// costs a key exchange. A flood from spoofed addresses thus costs one
// walk of the chain, one HMAC and one small datagram per request.

// screenInit deals with an IKE_SA_INIT request that needs a cookie, nHalf
// half-open SAs being kept. It returns true when it answered or dropped
// the request, and false when the request carries a valid cookie and goes
// on to the full parse.
func (e *Engine) screenInit(pkt []byte, h wire.Header, nHalf int, local, remote netip.AddrPort) bool {
	s, err := wire.ScanInit(pkt)
	if err != nil {
		e.drop(DropMalformed, remote, err)
		return true
	}
	if s.Cookie != nil {
		if e.cookies.Verify(s.Cookie, s.Nonce, remote.Addr(), h.SPIi) {
			return false
		}
		e.drop(DropBadCookie, remote, errors.New("cookie does not verify"))
	}
	if e.sourceLimit != nil && !e.sourceLimit.allow(remote.Addr(), e.cfg.Clock.Now()) {
		e.drop(DropRateLimited, remote, errors.New("source had its share of cookie demands"))
		return true
	}
	c, err := e.cookies.Make(s.Nonce, remote.Addr(), h.SPIi)
	if err != nil {
		e.log.Warn("ike: cookie", "err", err)
		return true
	}
	e.stats.add(&e.stats.cookiesSent)
	e.cookieDemanded(nHalf)
	e.send(cookieDemand(h.SPIi, c), local, remote)
	return true
}

// cookieDemand is the IKE_SA_INIT response that demands cookie of the
// initiator with SPI spii: the header and one COOKIE notify, as
// wire.Message.Marshal would write them.
func cookieDemand(spii SPI, cookie []byte) []byte {
	const notifyFixed = 4 + 4 // generic payload header; protocol, SPI size, type
	n := notifyFixed + len(cookie)
	b := make([]byte, wire.HeaderLen+n)
	copy(b[0:8], spii[:])
	b[16] = byte(wire.PayloadNotify)
	b[17] = 0x20 // IKEv2
	b[18] = byte(wire.IKESAInit)
	b[19] = byte(wire.FlagResponse)
	binary.BigEndian.PutUint32(b[24:], uint32(len(b)))
	p := b[wire.HeaderLen:]
	binary.BigEndian.PutUint16(p[2:], uint16(n))
	binary.BigEndian.PutUint16(p[6:], uint16(wire.NotifyCookie))
	copy(p[notifyFixed:], cookie)
	return b
}
