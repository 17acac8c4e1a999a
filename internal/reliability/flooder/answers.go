package flooder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Answers counts the responder's answers to a flood, by kind.
type Answers struct {
	conn *net.UDPConn
	done sync.WaitGroup

	cookies, full, other atomic.Uint64
}

// AnswerCounts are the answers received, by kind.
type AnswerCounts struct {
	// Cookies are IKE_SA_INIT responses that demand a cookie (a COOKIE
	// notify first, RFC 7296 §2.6).
	Cookies uint64
	// Full are IKE_SA_INIT responses that accept the request (an SA
	// payload first): the responder did the key exchange and keeps a
	// half-open SA.
	Full uint64
	// Other are any other datagrams (error notifies and the like).
	Other uint64
}

func (c AnswerCounts) String() string {
	return fmt.Sprintf("%d cookie demands, %d full answers, %d other", c.Cookies, c.Full, c.Other)
}

// ListenAnswers opens a UDP socket on port, in the caller's network
// namespace, where the flood's source prefix must be local (a route of
// type local), and counts what arrives until Close.
func ListenAnswers(port uint16) (*Answers, error) {
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv4Unspecified(), port)))
	if err != nil {
		return nil, fmt.Errorf("flooder: answers socket: %w", err)
	}
	_ = conn.SetReadBuffer(4 << 20)
	a := &Answers{conn: conn}
	a.done.Add(1)
	go a.read()
	return a, nil
}

func (a *Answers) read() {
	defer a.done.Done()
	buf := make([]byte, 2048)
	for {
		n, err := a.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		switch classify(buf[:n]) {
		case kindCookie:
			a.cookies.Add(1)
		case kindFull:
			a.full.Add(1)
		default:
			a.other.Add(1)
		}
	}
}

// Counts are the answers so far.
func (a *Answers) Counts() AnswerCounts {
	return AnswerCounts{Cookies: a.cookies.Load(), Full: a.full.Load(), Other: a.other.Load()}
}

// Close stops counting.
func (a *Answers) Close() error {
	err := a.conn.Close()
	a.done.Wait()
	return err
}

type answerKind int

const (
	kindOther answerKind = iota
	kindCookie
	kindFull
)

const notifyCookie = 16390

// classify says what an answer to an IKE_SA_INIT request is.
func classify(b []byte) answerKind {
	if len(b) < 28 || b[17] != 0x20 || b[18] != 34 || b[19]&0x20 == 0 {
		return kindOther // not an IKEv2 IKE_SA_INIT response
	}
	switch b[16] {
	case 33:
		return kindFull
	case 41:
		// Notify payload: header (4), protocol, SPI size, type.
		if len(b) >= 28+8 && binary.BigEndian.Uint16(b[28+6:]) == notifyCookie {
			return kindCookie
		}
	}
	return kindOther
}
