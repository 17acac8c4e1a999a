package xfrm

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestVMScale installs OEMESH_VM_SCALE SA pairs (default 2,000, so that
// `make test-kernel` stays short; the figures in bench/README.md come
// from 10,000) with their policies, looks each up (its counters, from the kernel), and
// deletes them all, timing each step per thousand pairs, so that the
// install time at 1k, 5k and 10k pairs shows how it grows with N. It
// does so twice:
//
//   - host: what OE installs, transport mode between two hosts: both
//     selectors are /32, and the kernel keeps such policies in its hash
//     table of exact policies (net.xfrm's policy_bydst, hashed on both
//     addresses while the prefixes are at the default thresholds of 32
//     bits for IPv4 and 128 for IPv6): the time per pair stays flat;
//   - subnet: tunnel mode to a /24 behind each peer, as a conn's subnets
//     are: a /24 selector is inexact, and the kernel keeps inexact
//     policies in a list as well as its search tree, which every insert
//     walks (to order policies of equal priority by age): the time per
//     pair grows with N. At most 5,000 of these: under TCG their inserts
//     would take the rest of the VM's ten minutes.
//
// A lookup reads the pair's counters (by SPI: the kernel's state hash)
// and its outbound policy by selector (the exact hash, or the inexact
// tree and lists); a delete removes the states by SPI and the policies
// by selector.
func TestVMScale(t *testing.T) {
	needVM(t)
	n := 2000
	if s := os.Getenv("OEMESH_VM_SCALE"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1000 || v > 60000 {
			t.Fatalf("OEMESH_VM_SCALE=%q: want a number of pairs from 1000 to 60000", s)
		}
		n = v
	}
	for _, kind := range []string{"host", "subnet"} {
		t.Run(kind, func(t *testing.T) {
			ns := netnstest.New(t, "xscale")
			d := open(t, ns, Options{Logger: slog.New(slog.DiscardHandler)})
			n := n
			if kind == "subnet" {
				n = min(n, 5000)
			}
			pairs := scalePairs(n, kind == "subnet")
			install, lookup, del := timeScale(t, d, pairs)
			t.Logf("%s selectors, %d pairs: µs per pair in each thousand\n%s", kind, n, scaleTable(install, lookup, del))
			// Both growths, for the log line the VM harness keeps.
			at := fmt.Sprintf("at 1k %.0f", micros(install[0]))
			for _, k := range []int{5, len(install)} {
				if k > 1 && k <= len(install) && !strings.Contains(at, fmt.Sprintf(" %dk ", k)) {
					at += fmt.Sprintf(", %dk %.0f", k, micros(install[k-1]))
				}
			}
			t.Logf("scale %s: install µs/pair %s; lookup %.0f; delete %.0f", kind, at, micros(mean(lookup)), micros(mean(del)))
		})
	}
}

// scalePairs makes n pairs from 192.0.2.1 to a peer each in
// 198.18.0.0/15: transport host to host, or tunnel to a /24 of
// 10.0.0.0/8 behind each peer.
func scalePairs(n int, subnet bool) []kernel.SAPair {
	local := netip.MustParseAddr("192.0.2.1")
	key := deriveKey("scale", 20)
	pairs := make([]kernel.SAPair, n)
	for i := range pairs {
		peer := netip.AddrFrom4([4]byte{198, 18 + byte(i>>16), byte(i >> 8), byte(i)})
		p := kernel.SAPair{
			Out:  kernel.SA{SPI: 0x100000 + uint32(i), Src: local, Dst: peer, AEAD: kernel.AESGCM16, Key: key},
			In:   kernel.SA{SPI: 0x200000 + uint32(i), Src: peer, Dst: local, AEAD: kernel.AESGCM16, Key: key},
			Mode: kernel.ModeTransport,
		}
		if subnet {
			p.Mode = kernel.ModeTunnel
			p.Local = []netip.Prefix{netip.MustParsePrefix("10.255.0.0/24")}
			p.Remote = []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}
		}
		pairs[i] = p
	}
	return pairs
}

// timeScale installs, looks up and deletes pairs in order, and returns
// the mean time per pair of each step in each thousand.
func timeScale(t *testing.T, d *Dataplane, pairs []kernel.SAPair) (install, lookup, del []time.Duration) {
	t.Helper()
	ctx := context.Background()
	step := func(name string, f func(kernel.SAPair) error) []time.Duration {
		var out []time.Duration
		for lo := 0; lo < len(pairs); lo += 1000 {
			chunk := pairs[lo:min(lo+1000, len(pairs))]
			start := time.Now()
			for _, p := range chunk {
				if err := f(p); err != nil {
					t.Fatalf("%s pair %s: %v", name, p.Out.Dst, err)
				}
			}
			out = append(out, time.Since(start)/time.Duration(len(chunk)))
		}
		return out
	}
	install = step("install", func(p kernel.SAPair) error { return d.InstallSA(ctx, p) })
	if got := countPolicies(t, d); got < 2*len(pairs) {
		t.Fatalf("the kernel lists %d of our policies after installing %d pairs, want at least %d", got, len(pairs), 2*len(pairs))
	}
	lookup = step("look up", func(p kernel.SAPair) error {
		if _, err := d.SACounters(ctx, p.ID()); err != nil {
			return err
		}
		// The outbound policy by its selector: the kernel's exact hash or
		// its inexact tree and lists, as for a packet.
		l, r := p.Out.Src, p.Out.Dst
		sel := selector{Src: netip.PrefixFrom(l, l.BitLen()), Dst: netip.PrefixFrom(r, r.BitLen())}
		if len(p.Remote) > 0 {
			sel = selector{Src: p.Local[0], Dst: p.Remote[0]}
		}
		_, err := d.ex.getPolicy(sel, dirOut)
		return err
	})
	del = step("delete", func(p kernel.SAPair) error { return d.DeleteSA(ctx, p.ID(), kernel.DeleteOptions{}) })
	if got := countPolicies(t, d); got != 0 {
		t.Errorf("%d policies left after deleting every pair", got)
	}
	return install, lookup, del
}

// countPolicies counts the SA policies (with a template) in d's namespace.
func countPolicies(t *testing.T, d *Dataplane) int {
	t.Helper()
	pols, err := d.ex.policies()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pols {
		if p.Tmpl != nil {
			n++
		}
	}
	return n
}

func scaleTable(install, lookup, del []time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%8s %10s %10s %10s\n", "pairs", "install", "lookup", "delete")
	for i := range install {
		fmt.Fprintf(&b, "%7dk %10.0f %10.0f %10.0f\n", i+1, micros(install[i]), micros(lookup[i]), micros(del[i]))
	}
	return b.String()
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func mean(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(max(len(ds), 1))
}
