package xfrm

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
	"golang.org/x/sys/unix"
)

// Tests in this file need a kernel with ESP. This machine's has none; they
// run in Debian's kernel under qemu (internal/vmtest TestXfrmInVM builds
// this package's test binary and runs it there with OEMESH_IN_VM=1).

func needVM(t testing.TB) {
	t.Helper()
	if os.Getenv("OEMESH_IN_VM") != "1" {
		t.Skip("needs a kernel with ESP: runs inside the qemu VM (internal/vmtest TestXfrmInVM sets OEMESH_IN_VM=1)")
	}
	netnstest.Need(t)
}

// deriveKey makes a key (with its 4-byte salt) from a label.
func deriveKey(label string, n int) []byte {
	var k []byte
	for i := 0; len(k) < n; i++ {
		h := sha256.Sum256(fmt.Appendf(nil, "oemesh vm test %s %d", label, i))
		k = append(k, h[:]...)
	}
	return k[:n]
}

type espCase struct {
	name  string
	mode  kernel.Mode
	aead  kernel.AEAD
	v6    bool
	encap bool
	esn   bool // negotiated ESN, window 1024
}

func (c espCase) keyLen() int {
	if c.aead == kernel.ChaCha20Poly1305 {
		return 36
	}
	return 20 // AES-128 + salt
}

// capture runs tcpdump on dev in ns until stop is called, and returns its lines.
type capture struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

// startCapture captures what leaves dev.
func startCapture(t testing.TB, ns *netnstest.NS, dev string) *capture {
	t.Helper()
	return startCaptureDir(t, ns, dev, "out")
}

// startCaptureDir captures one direction ("in", "out") of dev.
func startCaptureDir(t testing.TB, ns *netnstest.NS, dev, dir string) *capture {
	t.Helper()
	c := &capture{cmd: ns.Command(context.Background(), "tcpdump", "-l", "-n", "-Q", dir, "-i", dev), done: make(chan struct{})}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errp, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("tcpdump (Debian package tcpdump): %v", err)
	}
	t.Cleanup(func() { _ = c.cmd.Process.Kill(); _ = c.cmd.Wait() })
	listening := make(chan struct{})
	go func() {
		s := bufio.NewScanner(errp)
		once := sync.Once{}
		for s.Scan() {
			if strings.Contains(s.Text(), "listening on") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	go func() {
		defer close(c.done)
		s := bufio.NewScanner(out)
		for s.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, s.Text())
			c.mu.Unlock()
		}
	}()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not start listening within 10 s")
	}
	return c
}

func (c *capture) stop() []string {
	time.Sleep(300 * time.Millisecond) // let the last packets reach tcpdump
	_ = c.cmd.Process.Signal(unix.SIGINT)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines
}

// encapSockets opens the UDP/4500 socket with UDP_ENCAP and bypass in ns,
// as the IKE transport does; closed at the end of the test.
func encapSocket(t testing.TB, ns *netnstest.NS, v6 bool) {
	t.Helper()
	netw, fam := "udp4", unix.AF_INET
	if v6 {
		netw, fam = "udp6", unix.AF_INET6
	}
	var c *net.UDPConn
	if err := ns.Do(func() (err error) {
		c, err = net.ListenUDP(netw, &net.UDPAddr{Port: 4500})
		return err
	}); err != nil {
		t.Fatalf("%s: listen on 4500: %v", ns.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := BypassConn(c, fam); err != nil {
		t.Fatal(err)
	}
	if err := EncapConn(c); err != nil {
		t.Fatal(err)
	}
}

func TestVMESP(t *testing.T) {
	needVM(t)
	var cases []espCase
	for _, mode := range []kernel.Mode{kernel.ModeTransport, kernel.ModeTunnel} {
		for _, aead := range []kernel.AEAD{kernel.AESGCM16, kernel.ChaCha20Poly1305} {
			for _, v6 := range []bool{false, true} {
				cases = append(cases, espCase{fmt.Sprintf("%s-%s-v%d", mode, aead, map[bool]int{false: 4, true: 6}[v6]), mode, aead, v6, false, false})
			}
		}
	}
	cases = append(cases,
		espCase{"espinudp-transport-aes-gcm-16-v4", kernel.ModeTransport, kernel.AESGCM16, false, true, false},
		espCase{"espinudp-transport-chacha20-poly1305-v6", kernel.ModeTransport, kernel.ChaCha20Poly1305, true, true, false},
		espCase{"espinudp-tunnel-aes-gcm-16-v4", kernel.ModeTunnel, kernel.AESGCM16, false, true, false},
		espCase{"esn-transport-aes-gcm-16-v4", kernel.ModeTransport, kernel.AESGCM16, false, false, true},
	)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { runESPCase(t, c, uint32(0x10000*(i+1))) })
	}
}

func runESPCase(t *testing.T, c espCase, spiBase uint32) {
	p := netnstest.NewPair(t, "xvm")
	a, b := p.A4, p.B4
	if c.v6 {
		a, b = p.A6, p.B6
	}
	ctx := context.Background()
	da, db := open(t, p.A, Options{}), open(t, p.B, Options{})
	var encap *kernel.Encap
	if c.encap {
		encapSocket(t, p.A, c.v6)
		encapSocket(t, p.B, c.v6)
		encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
	}
	kAB, kBA := deriveKey(c.name+" a→b", c.keyLen()), deriveKey(c.name+" b→a", c.keyLen())
	sa := func(spi uint32, src, dst netip.Addr, key []byte) kernel.SA {
		sa := kernel.SA{SPI: spi, Src: src, Dst: dst, AEAD: c.aead, Key: key}
		if c.esn {
			sa.ESN, sa.Replay = true, 1024
		}
		return sa
	}
	pa := kernel.SAPair{Out: sa(spiBase+1, a, b, kAB), In: sa(spiBase+2, b, a, kBA), Mode: c.mode, Encap: encap}
	pb := kernel.SAPair{Out: sa(spiBase+2, b, a, kBA), In: sa(spiBase+1, a, b, kAB), Mode: c.mode, Encap: encap}
	if err := da.InstallSA(ctx, pa); err != nil {
		t.Fatal(err)
	}
	if err := db.InstallSA(ctx, pb); err != nil {
		t.Fatal(err)
	}
	// Outbound only (-Q out), on both ends: after tunnel-mode decapsulation
	// the kernel hands the inner packet back to the veth, where a capture
	// of both directions would show it as if it had come off the wire.
	captA, captB := startCapture(t, p.A, p.ADev), startCapture(t, p.B, p.BDev)
	out, err := p.A.Command(ctx, "ping", "-c", "3", "-i", "0.2", "-W", "3", b.String()).CombinedOutput()
	lines := append(captA.stop(), captB.stop()...)
	if err != nil || !strings.Contains(string(out), "3 received") {
		t.Fatalf("ping %s over ESP: %v\n%s", b, err, out)
	}
	var esp, clear int
	for _, l := range lines {
		switch {
		case strings.Contains(l, "ESP(spi="):
			esp++
		case strings.Contains(l, "echo request"), strings.Contains(l, "echo reply"):
			clear++
			t.Errorf("cleartext ICMP on the wire: %s", l)
		}
	}
	if esp < 6 {
		t.Errorf("capture on %s shows %d ESP packets, want ≥6 (3 requests, 3 replies):\n%s", p.BDev, esp, strings.Join(lines, "\n"))
	}
	ca, err := da.SACounters(ctx, pa.ID())
	if err != nil {
		t.Fatal(err)
	}
	cb, err := db.SACounters(ctx, pb.ID())
	if err != nil {
		t.Fatal(err)
	}
	if ca.OutPackets < 3 || ca.OutPackets != cb.InPackets || cb.OutPackets != ca.InPackets || ca.InPackets < 3 {
		t.Errorf("counters do not match: A out %d in %d, B in %d out %d", ca.OutPackets, ca.InPackets, cb.InPackets, cb.OutPackets)
	}
	if ca.LastUse.IsZero() {
		t.Error("no last use on a used SA pair")
	}
	t.Logf("%s: wire ESP=%d cleartext-ICMP=%d; SA packets A out %d in %d, B in %d out %d", c.name, esp, clear,
		ca.OutPackets, ca.InPackets, cb.InPackets, cb.OutPackets)
}

// TestVMFirstPingLarvalDrop shows why xfrm_larval_drop=0: under a trap, the
// first ping survives when the SA is installed within a second; with the
// kernel's default (1) it is lost. The inbound SPI comes from AllocSPI and
// is completed by the install (UPDSA of the larval state).
func TestVMFirstPingLarvalDrop(t *testing.T) {
	needVM(t)
	for _, keep := range []bool{false, true} {
		name := "larval_drop=0"
		if keep {
			name = "larval_drop=1 (kernel default)"
		}
		t.Run(name, func(t *testing.T) {
			p := netnstest.NewPair(t, "xlar")
			ctx := context.Background()
			da := open(t, p.A, Options{KeepLarvalDrop: keep})
			db := open(t, p.B, Options{})
			v, err := inspect(t, p.A).readSysctl(larvalDropPath)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[bool]string{false: "0", true: "1"}[keep]; v != want {
				t.Fatalf("xfrm_larval_drop=%s, want %s", v, want)
			}
			if err := da.SetTrap(ctx, kernel.Trap{Prefix: netip.PrefixFrom(p.B4, 32), Group: kernel.GroupPrivate}); err != nil {
				t.Fatal(err)
			}
			ping := p.A.Command(ctx, "ping", "-c", "1", "-W", "4", p.B4.String())
			var out strings.Builder
			ping.Stdout, ping.Stderr = &out, &out
			start := time.Now()
			if err := ping.Start(); err != nil {
				t.Fatal(err)
			}
			// ping's own UDP connect() probe may raise it before the echo
			// request; either way one larval state then holds the flow.
			acq := waitAcquire(t, da, 3*time.Second)
			if acq.Flow.Dst != p.B4 || acq.Flow.Src != p.A4 {
				t.Fatalf("acquire %+v, want %s→%s", acq, p.A4, p.B4)
			}
			spiIn, err := da.AllocSPI(ctx, p.B4, p.A4)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond) // the negotiation
			k1, k2 := deriveKey(name+"1", 20), deriveKey(name+"2", 20)
			const spiOut = 0x3001
			pa := kernel.SAPair{
				Out:  kernel.SA{SPI: spiOut, Src: p.A4, Dst: p.B4, AEAD: kernel.AESGCM16, Key: k1},
				In:   kernel.SA{SPI: spiIn, Src: p.B4, Dst: p.A4, AEAD: kernel.AESGCM16, Key: k2},
				Mode: kernel.ModeTransport,
			}
			pb := kernel.SAPair{
				Out:  kernel.SA{SPI: spiIn, Src: p.B4, Dst: p.A4, AEAD: kernel.AESGCM16, Key: k2},
				In:   kernel.SA{SPI: spiOut, Src: p.A4, Dst: p.B4, AEAD: kernel.AESGCM16, Key: k1},
				Mode: kernel.ModeTransport,
			}
			if err := db.InstallSA(ctx, pb); err != nil {
				t.Fatal(err)
			}
			if err := da.InstallSA(ctx, pa); err != nil {
				t.Fatal(err)
			}
			// From the first packet (the acquire), not from starting ping:
			// exec under TCG alone can take a second.
			installed := time.Since(acq.Time)
			switch {
			case installed > 5*time.Second:
				t.Fatalf("SA installed %v after the acquire: far from the one second this test is about", installed)
			case installed > time.Second:
				// A loaded CI machine under TCG; the kernel queue would
				// still hold the packet for up to a minute.
				t.Logf("warning: SA installed %v after the acquire, more than a second", installed)
			}
			perr := ping.Wait()
			t.Logf("SA installed %v after the acquire (%v after starting ping); ping: %v\n%s",
				installed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), perr, out.String())
			got := strings.Contains(out.String(), "1 received")
			if !keep && (!got || perr != nil) {
				t.Fatal("with xfrm_larval_drop=0 the first ping was lost")
			}
			if keep && got {
				t.Fatal("with xfrm_larval_drop=1 the first ping survived: the test cannot tell the settings apart")
			}
			// Either way the SA carries the next ping.
			if o, err := p.A.Command(ctx, "ping", "-c", "1", "-W", "2", p.B4.String()).CombinedOutput(); err != nil {
				t.Fatalf("second ping over the SA: %v\n%s", err, o)
			}
		})
	}
}

// BenchmarkInstallDeleteSAPairs installs b.N SA pairs with their policies
// (transport, AES-GCM, one peer each in 198.18.0.0/15), then deletes them
// all; ns/op is the time per pair, install and delete.
func BenchmarkInstallDeleteSAPairs(b *testing.B) {
	if os.Getenv("OEMESH_IN_VM") != "1" {
		b.Skip("needs a kernel with ESP: runs inside the qemu VM (OEMESH_IN_VM=1)")
	}
	if b.N > 1<<17 {
		b.Fatalf("b.N=%d: 198.18.0.0/15 has room for %d peers", b.N, 1<<17)
	}
	ns := netnstest.New(b, "xbench")
	d := open(b, ns, Options{Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	local := netip.MustParseAddr("192.0.2.1")
	key := deriveKey("bench", 20)
	pairs := make([]kernel.SAPair, b.N)
	for i := range pairs {
		peer := netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
		pairs[i] = kernel.SAPair{
			Out:  kernel.SA{SPI: 0x100000 + uint32(i), Src: local, Dst: peer, AEAD: kernel.AESGCM16, Key: key},
			In:   kernel.SA{SPI: 0x200000 + uint32(i), Src: peer, Dst: local, AEAD: kernel.AESGCM16, Key: key},
			Mode: kernel.ModeTransport,
		}
	}
	b.ResetTimer()
	for _, p := range pairs {
		if err := d.InstallSA(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	for _, p := range pairs {
		if err := d.DeleteSA(ctx, p.ID(), kernel.DeleteOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVMSAExpires installs a pair with 1 s soft and 2 s hard lifetimes: the
// soft expire (rekey) comes first, then the hard one (gone), each naming
// the pair; deleting the pair afterwards is not an error.
func TestVMSAExpires(t *testing.T) {
	needVM(t)
	p := netnstest.NewPair(t, "xexp")
	d := open(t, p.A, Options{})
	ctx := context.Background()
	k := deriveKey("expire", 20)
	pair := kernel.SAPair{
		Out:      kernel.SA{SPI: 0x4001, Src: p.A4, Dst: p.B4, AEAD: kernel.AESGCM16, Key: k},
		In:       kernel.SA{SPI: 0x4002, Src: p.B4, Dst: p.A4, AEAD: kernel.AESGCM16, Key: k},
		Lifetime: kernel.Lifetime{SoftAdd: time.Second, HardAdd: 2 * time.Second},
		Mode:     kernel.ModeTransport,
	}
	if err := d.InstallSA(ctx, pair); err != nil {
		t.Fatal(err)
	}
	soft := waitExpire(t, d, kernel.ExpireSoft, 10*time.Second)
	if soft.SA != pair.ID() {
		t.Fatalf("soft expire names %+v, want %+v", soft.SA, pair.ID())
	}
	hard := waitExpire(t, d, kernel.ExpireHard, 10*time.Second)
	if hard.SA != pair.ID() {
		t.Fatalf("hard expire names %+v, want %+v", hard.SA, pair.ID())
	}
	t.Logf("soft expire of spi %#x, hard expire of spi %#x", soft.SPI, hard.SPI)
	if err := d.DeleteSA(ctx, pair.ID(), kernel.DeleteOptions{}); err != nil {
		t.Fatalf("DeleteSA after hard expiry: %v", err)
	}
}

// TestVMRekeyDeferOutbound: the responder of a CHILD SA rekey installs the
// new pair with DeferOutbound; it keeps sending on the old pair until the
// initiator, having installed the new pair too, is heard on it. No ping is
// lost on either side of the switch.
func TestVMRekeyDeferOutbound(t *testing.T) {
	needVM(t)
	p := netnstest.NewPair(t, "xrek")
	ctx := context.Background()
	da, db := open(t, p.A, Options{}), open(t, p.B, Options{})
	mk := func(out, in uint32, src, dst netip.Addr, label string) kernel.SAPair {
		return kernel.SAPair{
			Out:  kernel.SA{SPI: out, Src: src, Dst: dst, AEAD: kernel.AESGCM16, Key: deriveKey(label+"out", 20)},
			In:   kernel.SA{SPI: in, Src: dst, Dst: src, AEAD: kernel.AESGCM16, Key: deriveKey(label+"in", 20)},
			Mode: kernel.ModeTransport,
		}
	}
	// Keys by direction: A's out is B's in.
	a1, b1 := mk(0x5001, 0x5002, p.A4, p.B4, "1ab"), mk(0x5002, 0x5001, p.B4, p.A4, "1ba")
	b1.In.Key, b1.Out.Key = a1.Out.Key, a1.In.Key
	a2, b2 := mk(0x5003, 0x5004, p.A4, p.B4, "2ab"), mk(0x5004, 0x5003, p.B4, p.A4, "2ba")
	b2.In.Key, b2.Out.Key = a2.Out.Key, a2.In.Key
	b2.DeferOutbound = true
	for _, x := range []struct {
		d  *Dataplane
		sp kernel.SAPair
	}{{da, a1}, {db, b1}, {db, b2}} {
		if err := x.d.InstallSA(ctx, x.sp); err != nil {
			t.Fatal(err)
		}
	}
	ping := func() {
		t.Helper()
		if out, err := p.A.Command(ctx, "ping", "-c", "3", "-i", "0.3", "-W", "3", p.B4.String()).CombinedOutput(); err != nil || !strings.Contains(string(out), "3 received") {
			t.Fatalf("ping during the rekey: %v\n%s", err, out)
		}
	}
	ping() // A has only the old pair: B must answer on the old one too
	if c, err := db.SACounters(ctx, b2.ID()); err != nil || c.OutPackets != 0 {
		t.Fatalf("B's deferred pair sent before A had it: %+v, %v", c, err)
	}
	if err := da.InstallSA(ctx, a2); err != nil {
		t.Fatal(err)
	}
	ping() // A sends on the new pair; B hears it and switches
	c, err := db.SACounters(ctx, b2.ID())
	if err != nil {
		t.Fatal(err)
	}
	if c.InPackets == 0 || c.OutPackets == 0 {
		t.Fatalf("B's new pair after A switched: in %d out %d packets, want both > 0", c.InPackets, c.OutPackets)
	}
	t.Logf("B's new pair: in %d, out %d packets", c.InPackets, c.OutPackets)
	if err := db.DeleteSA(ctx, b1.ID(), kernel.DeleteOptions{KeepPolicy: true}); err != nil {
		t.Fatal(err)
	}
	if err := da.DeleteSA(ctx, a1.ID(), kernel.DeleteOptions{KeepPolicy: true}); err != nil {
		t.Fatal(err)
	}
	ping()
}
