package lab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

//go:generate go tool stringer -type=Kind -linecomment

// Kind is what a captured packet was on the wire.
type Kind uint8

const (
	// KindESP: IP protocol 50. Counts.Between and From count
	// KindESPinUDP with it: ESP however it travels.
	KindESP Kind = iota + 1 // esp
	// KindESPinUDP: UDP 4500 with a non-zero first word (RFC 3948).
	KindESPinUDP // esp-in-udp
	// KindIKE: UDP 500, or 4500 with the non-ESP marker.
	KindIKE // ike
	// KindICMP: cleartext ICMP / ICMPv6 echo and other user data (not
	// neighbour discovery).
	KindICMP // icmp
	// KindICMPError: ICMP errors (unreachable, time exceeded), e.g. for an
	// IKE probe to a host without IKE.
	KindICMPError // icmp-error
	// KindClearTCP: cleartext TCP.
	KindClearTCP // tcp
	// KindClearUDP: cleartext UDP other than IKE/NAT-T.
	KindClearUDP // udp
	KindOther    // other
)

// Cleartext reports whether the kind carries user data unencrypted.
func (k Kind) Cleartext() bool { return k == KindICMP || k == KindClearTCP || k == KindClearUDP }

// Flow is a source and destination address pair.
type Flow struct{ Src, Dst netip.Addr }

// Counts are packets seen per flow and kind.
type Counts map[Flow]map[Kind]int

// Between sums packets of kind k in both directions between a and b.
// KindESP counts ESP however it travels, as IP protocol 50 or in UDP
// (KindESPinUDP): which one a pair of daemons picks is kernel.udp_encap's
// business, and a test that wants ESP on the wire wants either. BareESP
// counts protocol 50 alone.
func (c Counts) Between(a, b netip.Addr, k Kind) int {
	return c.From(a, b, k) + c.From(b, a, k)
}

// From sums packets of kind k from a to b; KindESP counts ESP however it
// travels, as in Between.
func (c Counts) From(a, b netip.Addr, k Kind) int {
	m := c[Flow{a, b}]
	if k == KindESP {
		return m[KindESP] + m[KindESPinUDP]
	}
	return m[k]
}

// BareESP sums ESP packets sent as IP protocol 50, not in UDP, in both
// directions between a and b.
func (c Counts) BareESP(a, b netip.Addr) int {
	return c[Flow{a, b}][KindESP] + c[Flow{b, a}][KindESP]
}

// Capture counts every IP packet crossing a switch, once per packet.
type Capture struct {
	fd     int
	mu     sync.Mutex
	counts Counts
	seen   int // packets counted so far, for Settled
	// firstESP is when each ESP SPI, raw or in UDP, was first seen (not
	// forgotten by Reset).
	firstESP map[uint32]time.Time
	done     chan struct{}
	stop     chan struct{}
}

// StartCapture opens a packet socket in node (a switch) and counts IPv4 and
// IPv6 packets arriving on any of its ports until Stop.
func StartCapture(node *Node) (*Capture, error) {
	c := &Capture{counts: Counts{}, firstESP: map[uint32]time.Time{}, done: make(chan struct{}), stop: make(chan struct{})}
	err := node.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		tv := unix.NsecToTimeval((100 * time.Millisecond).Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		c.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lab: capture in %s: %w", node.NSName, err)
	}
	go c.loop()
	return c, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func (c *Capture) loop() {
	defer close(c.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			continue // timeout: look at stop again
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue // each bridged packet is seen leaving too: count it once
		}
		if n < 14 {
			continue
		}
		var pkt []byte
		switch binary.BigEndian.Uint16(buf[12:14]) {
		case 0x0800, 0x86DD:
			pkt = buf[14:n]
		default:
			continue
		}
		flow, kind, ok := Classify(pkt)
		if !ok {
			continue
		}
		c.mu.Lock()
		m := c.counts[flow]
		if m == nil {
			m = map[Kind]int{}
			c.counts[flow] = m
		}
		m[kind]++
		c.seen++
		if kind == KindESP || kind == KindESPinUDP {
			if spi, ok := espSPI(pkt, kind == KindESPinUDP); ok {
				if _, seen := c.firstESP[spi]; !seen {
					c.firstESP[spi] = time.Now()
				}
			}
		}
		c.mu.Unlock()
	}
}

// Snapshot returns the counts so far.
func (c *Capture) Snapshot() Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(Counts, len(c.counts))
	for f, m := range c.counts {
		mm := make(map[Kind]int, len(m))
		for k, v := range m {
			mm[k] = v
		}
		out[f] = mm
	}
	return out
}

// Settled waits until no packet has been counted for 200 ms (at most 3 s:
// the reader polls, so the last packets of a ping may still be on their way
// into the counts when the ping returns) and returns the counts.
func (c *Capture) Settled() Counts {
	deadline := time.Now().Add(3 * time.Second)
	last := -1
	for time.Now().Before(deadline) {
		c.mu.Lock()
		n := c.seen
		c.mu.Unlock()
		if n == last {
			break
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
	return c.Snapshot()
}

// FirstESP returns when an ESP packet with this SPI was first seen, raw or
// in UDP.
func (c *Capture) FirstESP(spi uint32) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.firstESP[spi]
	return t, ok
}

// espSPI reads the SPI of an ESP packet (IPv4, or IPv6 without extension
// headers), after the UDP header when inUDP.
func espSPI(pkt []byte, inUDP bool) (uint32, bool) {
	off := 40
	if pkt[0]>>4 == 4 {
		off = int(pkt[0]&0x0f) * 4
	}
	if inUDP {
		off += 8
	}
	if len(pkt) < off+4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(pkt[off:]), true
}

// Reset forgets what was counted.
func (c *Capture) Reset() {
	c.mu.Lock()
	c.counts = Counts{}
	c.mu.Unlock()
}

// Stop ends the capture and returns the counts.
func (c *Capture) Stop() Counts {
	select {
	case <-c.stop:
	default:
		close(c.stop)
		<-c.done
		unix.Close(c.fd)
	}
	return c.Snapshot()
}

// Classify reads an IPv4 or IPv6 packet's addresses and says what it is.
// Neighbour discovery and other link chatter is reported as not ok.
func Classify(pkt []byte) (Flow, Kind, bool) {
	if len(pkt) < 1 {
		return Flow{}, 0, false
	}
	var (
		f       Flow
		proto   byte
		payload []byte
	)
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return Flow{}, 0, false
		}
		ihl := int(pkt[0]&0x0f) * 4
		if ihl < 20 || len(pkt) < ihl {
			return Flow{}, 0, false
		}
		f.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
		f.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
		proto, payload = pkt[9], pkt[ihl:]
	case 6:
		if len(pkt) < 40 {
			return Flow{}, 0, false
		}
		f.Src = netip.AddrFrom16([16]byte(pkt[8:24]))
		f.Dst = netip.AddrFrom16([16]byte(pkt[24:40]))
		proto, payload = pkt[6], pkt[40:]
	default:
		return Flow{}, 0, false
	}
	switch proto {
	case 50:
		return f, KindESP, true
	case 1:
		if len(payload) > 0 && (payload[0] == 3 || payload[0] == 11 || payload[0] == 12) {
			return f, KindICMPError, true
		}
		return f, KindICMP, true
	case 58:
		if len(payload) > 0 && payload[0] >= 1 && payload[0] <= 4 {
			return f, KindICMPError, true
		}
		if len(payload) > 0 && payload[0] >= 133 && payload[0] <= 137 {
			return Flow{}, 0, false // neighbour discovery
		}
		if len(payload) > 0 && (payload[0] == 143 || payload[0] == 130 || payload[0] == 131) {
			return Flow{}, 0, false // multicast listener reports
		}
		return f, KindICMP, true
	case 6:
		return f, KindClearTCP, true
	case 17:
		if len(payload) < 8 {
			return f, KindClearUDP, true
		}
		sp, dp := binary.BigEndian.Uint16(payload[0:2]), binary.BigEndian.Uint16(payload[2:4])
		body := payload[8:]
		switch {
		case sp == 500 || dp == 500:
			return f, KindIKE, true
		case sp == 4500 || dp == 4500:
			if len(body) == 1 && body[0] == 0xff {
				return f, KindIKE, true // NAT-T keepalive
			}
			if len(body) >= 4 && binary.BigEndian.Uint32(body[:4]) == 0 {
				return f, KindIKE, true
			}
			return f, KindESPinUDP, true
		}
		return f, KindClearUDP, true
	}
	return f, KindOther, true
}
