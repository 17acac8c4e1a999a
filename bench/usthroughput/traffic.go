package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

const (
	tcpPort  = 5201
	udpPort  = 5202
	echoPort = 5203
	// udpIPSize is the size of the IP packets of the UDP tests: 1,400
	// bytes, which fit both tunnels' MTU (oemesh 1400, wireguard-go 1420).
	udpIPSize  = 1400
	udpPayload = udpIPSize - 20 - 8
)

// tcpResult is what one TCP run moved.
type tcpResult struct {
	bytes uint64
	mbps  float64
	cpu   cpuSample // used during the run (both tunnel ends, sender and receiver)
}

// perGB is the CPU seconds the run used per GB received: the process's,
// and the process's with the machine's softirq time.
func (r tcpResult) perGB() (proc, total float64) {
	gb := float64(r.bytes) / 1e9
	if gb <= 0 {
		return 0, 0
	}
	return r.cpu.proc.Seconds() / gb, (r.cpu.proc.Seconds() + r.cpu.softirq.Seconds()) / gb
}

// tcpStreams sends from namespace a to a listener in b over n parallel
// streams for d and returns the receiver's rate: bytes received over the
// time from the start to the last stream's end.
func (b *bench) tcpStreams(src, dst netip.Addr, n int, d time.Duration) (tcpResult, error) {
	to := netip.AddrPortFrom(dst, tcpPort).String()
	dialer := net.Dialer{Timeout: 30 * time.Second, LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, 0))}
	var ln net.Listener
	if err := inNS(b.hb, func() (err error) { ln, err = net.Listen("tcp", to); return }); err != nil {
		return tcpResult{}, err
	}
	defer ln.Close()
	var got atomic.Uint64
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	wg.Add(n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				errs <- err
				wg.Done()
				continue
			}
			go func() {
				defer wg.Done()
				defer c.Close()
				m, err := io.Copy(io.Discard, c)
				got.Add(uint64(m))
				if err != nil {
					errs <- err
				}
			}()
		}
	}()
	conns := make([]net.Conn, n)
	for i := range conns {
		if err := inNS(b.ha, func() (err error) { conns[i], err = dialer.Dial("tcp", to); return }); err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return tcpResult{}, err
		}
	}
	cpu0 := sampleCPU()
	start := time.Now()
	end := start.Add(d)
	var sent atomic.Uint64
	var swg sync.WaitGroup
	for _, c := range conns {
		swg.Add(1)
		go func() {
			defer swg.Done()
			defer c.Close()
			buf := make([]byte, 256<<10)
			_ = c.SetWriteDeadline(end.Add(time.Minute))
			for time.Now().Before(end) {
				m, err := c.Write(buf)
				sent.Add(uint64(m))
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	swg.Wait()
	wg.Wait()
	el := time.Since(start)
	cpu := sampleCPU().sub(cpu0)
	close(errs)
	if err := <-errs; err != nil {
		return tcpResult{}, err
	}
	if g, s := got.Load(), sent.Load(); g != s {
		return tcpResult{}, fmt.Errorf("received %d of %d bytes", g, s)
	}
	return tcpResult{bytes: got.Load(), mbps: float64(got.Load()*8) / el.Seconds() / 1e6, cpu: cpu}, nil
}

// udpResult is one UDP run: packets sent and received, over the time the
// sender ran, and the CPU used meanwhile.
type udpResult struct {
	sent, recv uint64
	dur        time.Duration
	cpu        cpuSample
}

func (r udpResult) pps() float64 { return float64(r.recv) / r.dur.Seconds() }

func (r udpResult) loss() float64 {
	if r.sent == 0 {
		return 0
	}
	return 1 - float64(r.recv)/float64(r.sent)
}

// gbMoved is the IP bytes received, in GB (1e9 bytes).
func (r udpResult) gbMoved() float64 { return float64(r.recv) * udpIPSize / 1e9 }

// udpSend sends 1,400-byte IP packets from a to b for d, as fast as the
// sender can (rateMbps 0, batches of 64 with sendmmsg) or paced to
// rateMbps, and counts what arrives.
func (b *bench) udpSend(src, dst netip.Addr, d time.Duration, rateMbps float64) (udpResult, error) {
	from := net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	to := netip.AddrPortFrom(dst, udpPort)
	var rc *net.UDPConn
	if err := inNS(b.hb, func() (err error) {
		rc, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(to))
		return
	}); err != nil {
		return udpResult{}, err
	}
	_ = rc.SetReadBuffer(4 << 20)
	var recv atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		pc := ipv4.NewPacketConn(rc)
		ms := make([]ipv4.Message, 64)
		for i := range ms {
			ms[i].Buffers = [][]byte{make([]byte, 2048)}
		}
		for {
			n, err := pc.ReadBatch(ms, 0)
			if err != nil {
				return
			}
			recv.Add(uint64(n))
		}
	}()
	var sc *net.UDPConn
	if err := inNS(b.ha, func() (err error) { sc, err = net.DialUDP("udp4", from, net.UDPAddrFromAddrPort(to)); return }); err != nil {
		rc.Close()
		return udpResult{}, err
	}
	_ = sc.SetWriteBuffer(4 << 20)
	pc := ipv4.NewPacketConn(sc)
	batch := 64
	if rateMbps > 0 {
		batch = 8
	}
	ms := make([]ipv4.Message, batch)
	payload := make([]byte, udpPayload)
	for i := range ms {
		ms[i].Buffers = [][]byte{payload}
	}
	var sent uint64
	c0 := sampleCPU()
	start := time.Now()
	end := start.Add(d)
	for now := start; now.Before(end); now = time.Now() {
		if rateMbps > 0 {
			due := uint64(rateMbps * 1e6 / 8 / udpIPSize * now.Sub(start).Seconds())
			if sent >= due {
				time.Sleep(200 * time.Microsecond)
				continue
			}
		}
		n, err := pc.WriteBatch(ms, 0)
		sent += uint64(max(n, 0))
		if err != nil && !errors.Is(err, errNoBufs) {
			sc.Close()
			rc.Close()
			return udpResult{}, err
		}
	}
	dur := time.Since(start)
	time.Sleep(200 * time.Millisecond) // what is still in the tunnel
	cpu := sampleCPU().sub(c0)
	sc.Close()
	rc.Close()
	<-done
	return udpResult{sent: sent, recv: recv.Load(), dur: dur, cpu: cpu}, nil
}

// rtt sends n lone UDP packets from a to an echo in b, one at a time with
// a pause between them (nothing else in flight, so no batch forms), and
// returns the round trips sorted.
func (b *bench) rtt(src, dst netip.Addr, n int) ([]time.Duration, error) {
	from := net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0))
	to := netip.AddrPortFrom(dst, echoPort)
	var ec *net.UDPConn
	if err := inNS(b.hb, func() (err error) { ec, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(to)); return }); err != nil {
		return nil, err
	}
	defer ec.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			m, from, err := ec.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = ec.WriteToUDPAddrPort(buf[:m], from)
		}
	}()
	var c *net.UDPConn
	if err := inNS(b.ha, func() (err error) { c, err = net.DialUDP("udp4", from, net.UDPAddrFromAddrPort(to)); return }); err != nil {
		return nil, err
	}
	defer c.Close()
	out := make([]byte, 64)
	in := make([]byte, 2048)
	var rtts []time.Duration
	for i := range n + 5 { // the first 5 warm up
		out[0] = byte(i)
		t0 := time.Now()
		if _, err := c.Write(out); err != nil {
			return nil, err
		}
		_ = c.SetReadDeadline(t0.Add(time.Second))
		for {
			m, err := c.Read(in)
			if err != nil {
				return nil, fmt.Errorf("echo %d: %w", i, err)
			}
			if m == len(out) && in[0] == byte(i) {
				break
			}
		}
		if i >= 5 {
			rtts = append(rtts, time.Since(t0))
		}
		time.Sleep(2 * time.Millisecond)
	}
	slices.Sort(rtts)
	return rtts, nil
}

// quantile of sorted values.
func quantile(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(int(q*float64(len(s))), len(s)-1)]
}
