// Command usthroughput measures TCP throughput between two network
// namespaces over three paths in one run, on the same box:
//
//   - plain veth (no encryption): the ceiling;
//   - oemesh's userspace ESP data plane (kernel/userspace), transport mode,
//     with AES-GCM-16 and with ChaCha20-Poly1305;
//   - wireguard-go (golang.zx2c4.com/wireguard/device, in process), the
//     userspace tunnel this data plane is modelled on.
//
// It must run as root; it creates namespaces "usbench{a,b}-<pid>" and
// removes them on exit. Addresses are 192.0.2.0/24 (ESP), 198.18.0.0/24
// (veth) and 198.18.1.0/24 (WireGuard), inside the namespaces only.
// Run it through bench/userspace-throughput.sh.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/crypto/curve25519"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/oemesh/oemesh/kernel"
	"github.com/oemesh/oemesh/kernel/userspace"
)

func main() {
	size := flag.Int64("bytes", 1<<30, "bytes per transfer")
	runs := flag.Int("runs", 3, "transfers per path; the best and median are reported")
	noWG := flag.Bool("no-wireguard", false, "skip the wireguard-go path")
	verbose := flag.Bool("v", false, "log wireguard-go")
	flag.Parse()
	if *verbose {
		wgLogLevel = device.LogLevelVerbose
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "usthroughput: must run as root (network namespaces, TUN)")
		os.Exit(2)
	}
	b, err := setup()
	if err != nil {
		fmt.Fprintln(os.Stderr, "usthroughput: set-up:", err)
		if b != nil {
			b.teardown()
		}
		os.Exit(1)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	go func() { <-sig; b.teardown(); os.Exit(130) }()
	err = b.run(*size, *runs, !*noWG)
	b.teardown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "usthroughput:", err)
		os.Exit(1)
	}
}

var wgLogLevel = device.LogLevelSilent

type bench struct {
	a, b     string // namespace names
	ha, hb   netns.NsHandle
	da, db   *userspace.Device
	wga, wgb *device.Device
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func setup() (*bench, error) {
	pid := os.Getpid()
	b := &bench{a: fmt.Sprintf("usbencha-%d", pid), b: fmt.Sprintf("usbenchb-%d", pid), ha: -1, hb: -1}
	steps := [][]string{
		{"netns", "add", b.a}, {"netns", "add", b.b},
		{"link", "add", "va", "netns", b.a, "type", "veth", "peer", "name", "vb", "netns", b.b},
		{"-n", b.a, "link", "set", "lo", "up"}, {"-n", b.b, "link", "set", "lo", "up"},
		{"-n", b.a, "link", "set", "va", "up"}, {"-n", b.b, "link", "set", "vb", "up"},
		{"-n", b.a, "addr", "add", "192.0.2.1/24", "dev", "va"}, {"-n", b.b, "addr", "add", "192.0.2.2/24", "dev", "vb"},
		{"-n", b.a, "addr", "add", "198.18.0.1/24", "dev", "va"}, {"-n", b.b, "addr", "add", "198.18.0.2/24", "dev", "vb"},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return b, err
		}
	}
	var err error
	if b.ha, err = netns.GetFromName(b.a); err != nil {
		return b, err
	}
	if b.hb, err = netns.GetFromName(b.b); err != nil {
		return b, err
	}
	if err := inNS(b.ha, func() (err error) { b.da, err = userspace.New(context.Background(), userspace.Config{}); return }); err != nil {
		return b, err
	}
	if err := inNS(b.hb, func() (err error) { b.db, err = userspace.New(context.Background(), userspace.Config{}); return }); err != nil {
		return b, err
	}
	ctx := context.Background()
	if err := b.da.SetTrap(ctx, kernel.Trap{Prefix: netip.MustParsePrefix("192.0.2.2/32"), Group: kernel.GroupPrivate}); err != nil {
		return b, err
	}
	if err := b.db.SetTrap(ctx, kernel.Trap{Prefix: netip.MustParsePrefix("192.0.2.1/32"), Group: kernel.GroupPrivate}); err != nil {
		return b, err
	}
	return b, nil
}

func (b *bench) teardown() {
	for _, d := range []*userspace.Device{b.da, b.db} {
		if d != nil {
			_ = d.Close()
		}
	}
	for _, w := range []*device.Device{b.wga, b.wgb} {
		if w != nil {
			w.Close()
		}
	}
	for _, h := range []netns.NsHandle{b.ha, b.hb} {
		if h >= 0 {
			h.Close()
		}
	}
	_ = ip("netns", "del", b.a)
	_ = ip("netns", "del", b.b)
}

// inNS runs fn on a locked thread inside the namespace h; sockets and
// devices fn creates stay there.
func inNS(h netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(h); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		return fmt.Errorf("return to the original namespace: %w", err) // thread stays locked and dies
	}
	runtime.UnlockOSThread()
	return ferr
}

// saPair returns the two sides of a transport-mode CHILD SA with fresh keys.
func saPair(alg kernel.AEAD, n uint32) (kernel.SAPair, kernel.SAPair) {
	klen := 36
	if alg == kernel.AESGCM16 {
		klen = 20
	}
	k1, k2 := make([]byte, klen), make([]byte, klen)
	_, _ = rand.Read(k1)
	_, _ = rand.Read(k2)
	a, bb := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	ab := kernel.SA{SPI: 0x1000 + n, Src: a, Dst: bb, AEAD: alg, Key: k1, ESN: true}
	ba := kernel.SA{SPI: 0x2000 + n, Src: bb, Dst: a, AEAD: alg, Key: k2, ESN: true}
	la, lb := []netip.Prefix{netip.PrefixFrom(a, 32)}, []netip.Prefix{netip.PrefixFrom(bb, 32)}
	return kernel.SAPair{In: ba, Out: ab, Local: la, Remote: lb, Mode: kernel.ModeTransport},
		kernel.SAPair{In: ab, Out: ba, Local: lb, Remote: la, Mode: kernel.ModeTransport}
}

func (b *bench) run(size int64, runs int, wg bool) error {
	fmt.Printf("TCP, %d MiB per transfer, %d transfers per path, GOMAXPROCS %d, %s\n", size>>20, runs, runtime.GOMAXPROCS(0), cpuModel())
	fmt.Printf("%-36s %12s %12s\n", "path", "best Mbit/s", "median")
	report := func(name string, to string) error {
		var rates []float64
		for range runs {
			r, err := b.transfer(to, size)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			rates = append(rates, r)
		}
		best, med := summarize(rates)
		fmt.Printf("%-36s %12.0f %12.0f\n", name, best, med)
		return nil
	}
	if err := report("veth, no encryption", "198.18.0.2:5201"); err != nil {
		return err
	}
	ctx := context.Background()
	for i, alg := range []kernel.AEAD{kernel.AESGCM16, kernel.ChaCha20Poly1305} {
		pa, pb := saPair(alg, uint32(i))
		if err := b.db.InstallSA(ctx, pb); err != nil {
			return err
		}
		if err := b.da.InstallSA(ctx, pa); err != nil {
			return err
		}
		if err := report("oemesh userspace ESP, "+alg.String(), "192.0.2.2:5201"); err != nil {
			return err
		}
		c, _ := b.da.SACounters(ctx, pa.ID())
		if c.OutBytes < uint64(size)*uint64(runs) {
			return fmt.Errorf("%s: the SA carried %d bytes, less than the transfers: traffic bypassed ESP", alg, c.OutBytes)
		}
		_ = b.da.DeleteSA(ctx, pa.ID(), kernel.DeleteOptions{})
		_ = b.db.DeleteSA(ctx, pb.ID(), kernel.DeleteOptions{})
	}
	if wg {
		if err := b.wireguard(); err != nil {
			return fmt.Errorf("wireguard-go: %w", err)
		}
		// The first packet waits for the handshake; take it out of the timing.
		if out, err := exec.Command("ip", "netns", "exec", b.a, "ping", "-c", "1", "-W", "10", "198.18.1.2").CombinedOutput(); err != nil {
			return fmt.Errorf("wireguard-go: no ping through the tunnel: %v: %s", err, out)
		}
		if err := report("wireguard-go (in process)", "198.18.1.2:5201"); err != nil {
			return err
		}
	}
	return nil
}

func summarize(r []float64) (best, median float64) {
	s := append([]float64(nil), r...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] > s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[0], s[len(s)/2]
}

// transfer sends size bytes from namespace a to a listener in b at to and
// returns Mbit/s.
func (b *bench) transfer(to string, size int64) (float64, error) {
	var ln net.Listener
	if err := inNS(b.hb, func() (err error) { ln, err = net.Listen("tcp", to); return }); err != nil {
		return 0, err
	}
	defer ln.Close()
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		n, err := io.Copy(io.Discard, c)
		if err == nil && n != size {
			err = fmt.Errorf("received %d of %d bytes", n, size)
		}
		got <- err
	}()
	var c net.Conn
	if err := inNS(b.ha, func() (err error) { c, err = net.DialTimeout("tcp", to, 30*time.Second); return }); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(5 * time.Minute)
	_ = c.SetDeadline(deadline)
	buf := make([]byte, 256<<10)
	start := time.Now()
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := c.Write(buf[:n]); err != nil {
			c.Close()
			return 0, err
		}
		left -= n
	}
	c.Close()
	if err := <-got; err != nil {
		return 0, err
	}
	return float64(size*8) / time.Since(start).Seconds() / 1e6, nil
}

// wireguard brings up wireguard-go in both namespaces over the veth.
func (b *bench) wireguard() error {
	keys := func() (priv, pub [32]byte) {
		_, _ = rand.Read(priv[:])
		priv[0] &= 248
		priv[31] = priv[31]&127 | 64
		p, _ := curve25519.X25519(priv[:], curve25519.Basepoint)
		copy(pub[:], p)
		return
	}
	privA, pubA := keys()
	privB, pubB := keys()
	start := func(h netns.NsHandle, ns string, priv, peer [32]byte, port int, endpoint, tunAddr, peerTun string) (*device.Device, error) {
		var d *device.Device
		err := inNS(h, func() error {
			t, err := tun.CreateTUN("wg0", 1420)
			if err != nil {
				return err
			}
			d = device.NewDevice(t, conn.NewDefaultBind(), device.NewLogger(wgLogLevel, "wg "+ns+": "))
			cfg := fmt.Sprintf("private_key=%s\nlisten_port=%d\npublic_key=%s\nendpoint=%s\nallowed_ip=%s/32\n",
				hex.EncodeToString(priv[:]), port, hex.EncodeToString(peer[:]), endpoint, peerTun)
			if err := d.IpcSet(cfg); err != nil {
				return err
			}
			return d.Up()
		})
		if err != nil {
			return nil, err
		}
		if err := ip("-n", ns, "addr", "add", tunAddr+"/24", "dev", "wg0"); err != nil {
			return d, err
		}
		return d, ip("-n", ns, "link", "set", "wg0", "up")
	}
	var err error
	if b.wga, err = start(b.ha, b.a, privA, pubB, 51820, "198.18.0.2:51821", "198.18.1.1", "198.18.1.2"); err != nil {
		return err
	}
	b.wgb, err = start(b.hb, b.b, privB, pubA, 51821, "198.18.0.1:51820", "198.18.1.2", "198.18.1.1")
	return err
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.Index(l, ":"); i >= 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return "unknown CPU"
}
