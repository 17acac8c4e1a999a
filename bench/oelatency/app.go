package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/oemesh/oemesh/internal/lab"
)

// app plays the application on a host: it resolves a name and sends its
// first packet (an ICMP echo) from one process, as a program does, so the
// echo leaves microseconds after the answer arrives. ping(8) cannot: a
// process started after the answer would add its own start-up, several
// milliseconds, in which a prestarted handshake would finish unseen.
// Its sockets are opened inside the host's namespace and stay there.
type app struct {
	node *lab.Node
	icmp *icmp.PacketConn
	id   int
	seq  int
}

// newApp opens the raw ICMP socket the echoes go through, in node's
// namespace.
func newApp(node *lab.Node) (*app, error) {
	a := &app{node: node, id: rand.IntN(0xffff) + 1}
	err := node.Do(func() error {
		c, err := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		a.icmp = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ICMP socket in %s: %w", node.NSName, err)
	}
	return a, nil
}

// Close closes the ICMP socket.
func (a *app) Close() error { return a.icmp.Close() }

// resolver opens a UDP socket toward server in the app's namespace, ahead
// of the timed query.
func (a *app) resolver(server netip.AddrPort) (*dns.Conn, error) {
	var c *dns.Conn
	err := a.node.Do(func() error {
		var err error
		c, err = dns.Dial("udp", server.String())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("DNS socket to %s in %s: %w", server, a.node.NSName, err)
	}
	return c, nil
}

// resolve asks c for name's A record and returns the time the answer
// arrived and how long the query took.
func (a *app) resolve(c *dns.Conn, name string) (time.Time, time.Duration, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	t0 := time.Now()
	if err := c.WriteMsg(q); err != nil {
		return time.Time{}, 0, fmt.Errorf("query %s: %w", name, err)
	}
	r, err := c.ReadMsg()
	at := time.Now()
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("answer for %s: %w", name, err)
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
		return time.Time{}, 0, fmt.Errorf("answer for %s: rcode %s, %d answers", name, dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	return at, at.Sub(t0), nil
}

// errNoReply is an echo's error when no reply came.
var errNoReply = errors.New("no reply")

// echo sends one echo request to dst and waits for its reply; it returns
// the round trip and when the request left.
func (a *app) echo(ctx context.Context, dst netip.Addr) (rtt time.Duration, sent time.Time, err error) {
	a.seq++
	seq := a.seq & 0xffff
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: a.id, Seq: seq, Data: make([]byte, 56)}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return 0, time.Time{}, err
	}
	deadline := time.Now().Add(2 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	a.icmp.SetReadDeadline(deadline)
	sent = time.Now()
	if _, err := a.icmp.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return 0, sent, fmt.Errorf("echo to %s: %w", dst, err)
	}
	buf := make([]byte, 1500)
	for {
		n, _, err := a.icmp.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return 0, sent, fmt.Errorf("echo %d to %s: %w within %v", seq, dst, errNoReply, deadline.Sub(sent).Round(time.Millisecond))
			}
			return 0, sent, fmt.Errorf("echo to %s: %w", dst, err)
		}
		at := time.Now()
		m, err := icmp.ParseMessage(1, buf[:n]) // 1: ICMP for IPv4
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == a.id && e.Seq == seq {
			return at.Sub(sent), sent, nil
		}
	}
}
