package ike

import (
	"bytes"

	"github.com/oemesh/oemesh/ike/internal/wire"
)

// The initiator's AUTH covers its first message (RFC 7296 §2.15), and
// after a cookie demand that is the request with the cookie (§2.6: the
// COOKIE notify first, every other payload unchanged). Under load a
// retransmission of the request without the cookie can reach the
// responder after the demand, when the half-open count has fallen below
// the cookie threshold: it makes the half-open SA. The initiator cannot
// tell our answer to it from an answer to the request with the cookie
// (same SPI, nonce and KE), takes it, and signs the request with the
// cookie. Verifying over the request we hold would refuse an honest
// handshake with AUTHENTICATION_FAILED.
//
// So the responder takes the request with the cookie as the SA's when it
// arrives while the SA is half open (adoptCookieRetry), and when the
// initiator's IKE_AUTH overtook it, verifies AUTH over the request with
// the cookie it would have demanded as well (verifyInitiatorAuth).

// adoptCookieRetry takes pkt as the half-open sa's IKE_SA_INIT request
// when it is sa's request retried with a cookie we issued, and reports
// whether it did; the caller sends our answer again, which stands for
// both. sa's lock is held.
func (e *Engine) adoptCookieRetry(sa *ikeSA, pkt []byte) bool {
	cookie, ok := wire.CookieRetry(pkt, sa.initI)
	if !ok || !e.cookies.Verify(cookie, sa.ni, sa.remote.Addr(), sa.spii) {
		return false
	}
	sa.initI = bytes.Clone(pkt)
	if e.debugOn() {
		e.log.Debug("ike: IKE_SA_INIT retried with a cookie for a half-open SA: it is the SA's request now",
			"remote", sa.remote, "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir))
	}
	return true
}

// verifyInitiatorAuth is verifyPeerAuth for the responder. When AUTH
// does not verify over the request the SA was made from, that request
// carried no cookie, and cookies have been demanded lately (cookie mode
// is on), it tries the request with the cookie we would demand for it,
// which becomes the SA's if AUTH verifies over it. sa's lock is held.
func (sa *ikeSA) verifyInitiatorAuth(a *wire.Auth, kind AuthKind, id Identity, pk peerKeys) (string, error) {
	method, err := sa.verifyPeerAuth(a, kind, id, pk)
	e := sa.e
	if err == nil || sa.initiator || !e.cookieModeOn() {
		return method, err
	}
	if scan, serr := wire.ScanInit(sa.initI); serr != nil || scan.Cookie != nil {
		return method, err // made from the request with the cookie
	}
	cookie, cerr := e.cookies.Make(sa.ni, sa.remote.Addr(), sa.spii)
	if cerr != nil {
		return method, err
	}
	held := sa.initI
	sa.initI = wire.WithCookie(held, cookie)
	if m, err2 := sa.verifyPeerAuth(a, kind, id, pk); err2 == nil {
		if e.debugOn() {
			e.log.Debug("ike: IKE_AUTH signs the IKE_SA_INIT request with the cookie, which has not reached us",
				"remote", sa.remote, "spi_i", hexSPI(sa.spii), "spi_r", hexSPI(sa.spir))
		}
		return m, nil
	}
	sa.initI = held
	return method, err
}
