package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os/exec"

	"github.com/vishvananda/netns"
	"golang.org/x/crypto/curve25519"
	"golang.zx2c4.com/wireguard/conn"
	"golang.zx2c4.com/wireguard/device"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/oemesh/oemesh/kernel"
)

// path is one way from namespace a to namespace b: its name, the address
// in b that traffic goes to, and how it is brought up and down.
type path struct {
	name string
	// src and dst are the addresses in a and b the traffic goes between;
	// src is bound, since the trap routes name no source address.
	src, dst netip.Addr
	up       func(b *bench) error
	down     func(b *bench) error // nil: nothing to undo
	// check, if set, is called after the TCP runs with the bytes sent,
	// to prove the traffic really went through the tunnel.
	check func(b *bench, sent uint64) error
}

var (
	vethSrc, vethDst = netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	wgSrc, wgDst     = netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2")
)

// espPaths is how many ESP paths there can be; each has its own pair of
// addresses (espAddrs), so that all are up at once and the runs of
// different paths interleave.
const espPaths = 4

// espAddrs returns the addresses of ESP path n (1…espPaths) in
// namespaces a and b: 192.0.2.(10n+1) and 192.0.2.(10n+2).
func espAddrs(n uint32) (a, b netip.Addr) {
	return netip.AddrFrom4([4]byte{192, 0, 2, byte(10*n + 1)}), netip.AddrFrom4([4]byte{192, 0, 2, byte(10*n + 2)})
}

// paths are the paths in the order the issue asks for: the bare veth,
// wireguard-go, oemesh raw ESP and ESP-in-UDP with AES-GCM-128, and
// ChaCha20-Poly1305 (ESP-in-UDP, and raw ESP with chachaRaw).
func paths(wg, chachaRaw bool) []path {
	ps := []path{{name: "veth, no encryption", src: vethSrc, dst: vethDst, up: func(*bench) error { return nil }}}
	if wg {
		ps = append(ps, path{name: "wireguard-go", src: wgSrc, dst: wgDst, up: (*bench).wireguard})
	}
	ps = append(ps,
		espPath("oemesh raw ESP, AES-GCM-128", kernel.AESGCM16, false, 1),
		espPath("oemesh ESP-in-UDP, AES-GCM-128", kernel.AESGCM16, true, 2),
		espPath("oemesh ESP-in-UDP, ChaCha20-Poly1305", kernel.ChaCha20Poly1305, true, 3))
	if chachaRaw {
		ps = append(ps, espPath("oemesh raw ESP, ChaCha20-Poly1305", kernel.ChaCha20Poly1305, false, 4))
	}
	return ps
}

// espPath installs a transport-mode SA pair between the two devices.
func espPath(name string, alg kernel.AEAD, encap bool, n uint32) path {
	pa, pb := saPair(alg, n)
	src, dst := espAddrs(n)
	if encap {
		pa.Encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
		pb.Encap = &kernel.Encap{SrcPort: 4500, DstPort: 4500}
	}
	ctx := context.Background()
	return path{
		name: name, src: src, dst: dst,
		up: func(b *bench) error {
			if err := b.db.InstallSA(ctx, pb); err != nil {
				return err
			}
			return b.da.InstallSA(ctx, pa)
		},
		down: func(b *bench) error {
			_ = b.da.DeleteSA(ctx, pa.ID(), kernel.DeleteOptions{})
			return b.db.DeleteSA(ctx, pb.ID(), kernel.DeleteOptions{})
		},
		check: func(b *bench, sent uint64) error {
			c, err := b.da.SACounters(ctx, pa.ID())
			if err != nil {
				return err
			}
			if c.OutBytes < sent {
				return fmt.Errorf("the SA carried %d bytes, less than the %d sent: traffic bypassed ESP", c.OutBytes, sent)
			}
			return nil
		},
	}
}

// saPair returns the two sides of a transport-mode CHILD SA with fresh keys.
func saPair(alg kernel.AEAD, n uint32) (kernel.SAPair, kernel.SAPair) {
	klen := 36
	if alg == kernel.AESGCM16 {
		klen = 20 // AES-128 and the 4-byte salt
	}
	k1, k2 := make([]byte, klen), make([]byte, klen)
	_, _ = rand.Read(k1)
	_, _ = rand.Read(k2)
	a, bb := espAddrs(n)
	ab := kernel.SA{SPI: 0x1000 + n, Src: a, Dst: bb, AEAD: alg, Key: k1, ESN: true}
	ba := kernel.SA{SPI: 0x2000 + n, Src: bb, Dst: a, AEAD: alg, Key: k2, ESN: true}
	la, lb := []netip.Prefix{netip.PrefixFrom(a, 32)}, []netip.Prefix{netip.PrefixFrom(bb, 32)}
	return kernel.SAPair{In: ba, Out: ab, Local: la, Remote: lb, Mode: kernel.ModeTransport},
		kernel.SAPair{In: ab, Out: ba, Local: lb, Remote: la, Mode: kernel.ModeTransport}
}

// wireguard brings up wireguard-go in both namespaces over the veth and
// waits for its handshake, so that no measurement includes it.
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
	if b.wgb, err = start(b.hb, b.b, privB, pubA, 51821, "198.18.0.1:51820", "198.18.1.2", "198.18.1.1"); err != nil {
		return err
	}
	if out, err := exec.Command("ip", "netns", "exec", b.a, "ping", "-c", "1", "-W", "10", wgDst.String()).CombinedOutput(); err != nil {
		return fmt.Errorf("no ping through the tunnel: %v: %s", err, out)
	}
	return nil
}
