package userspace

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/kernel"
)

// TestCipherIdleRelease checks that the expiry loop releases the AEAD
// state of a direction idle for CipherIdle, keeps a busy one, and that a
// released direction builds its state again for the next packet, which
// then seals and opens as before.
func TestCipherIdleRelease(t *testing.T) {
	for _, alg := range []kernel.AEAD{kernel.AESGCM16, kernel.ChaCha20Poly1305} {
		t.Run(alg.String(), func(t *testing.T) {
			spa, spb := testPairs(t, addrA, addrB, kernel.ModeTransport, alg, false)
			pa, pb := mustPair(t, spa), mustPair(t, spb)
			da, clk := clockedDevice()
			db, _ := clockedDevice()
			db.clock, db.cfg.Clock = clk, clk
			da.pairs[pa.id], db.pairs[pb.id] = pa, pb
			da.publish()
			db.publish()
			if da.cfg.CipherIdle != 30*time.Second {
				t.Fatalf("default CipherIdle = %v, want 30s", da.cfg.CipherIdle)
			}
			ciphers := func(d *Device) int { return d.Stats().Ciphers }
			send := func(i int) {
				t.Helper()
				payload := bytes.Repeat([]byte{byte(i)}, 100)
				buf, n := udpPacket(addrA, addrB, payload)
				orig := append([]byte(nil), buf[bufHeadroom:bufHeadroom+n]...)
				esp := sealPacket(t, da, pa, buf, n)
				pa.out.ctr.add(1, uint64(n), clk.Now()) // as the sender's flush counts it
				got, r := receive(db, rxESP4, withIPv4Header(addrA, addrB, esp))
				if r != dropNone || !bytes.Equal(got, orig) {
					t.Fatalf("packet %d: dropped %v, or got %x want %x", i, r, got, orig)
				}
			}
			if ciphers(da) != 2 || ciphers(db) != 2 {
				t.Fatalf("after install: %d and %d directions built, want 2 and 2", ciphers(da), ciphers(db))
			}
			da.expiry(clk.Advance(29 * time.Second))
			if ciphers(da) != 2 {
				t.Fatalf("29 s idle: %d directions built, want 2", ciphers(da))
			}
			send(1) // a's outbound used now (b's inbound at receive's own time)
			da.expiry(clk.Advance(2 * time.Second))
			if !pa.out.built() || pa.in.built() {
				t.Fatalf("31 s after install, outbound used 2 s ago: out built %v (want true), in built %v (want false)",
					pa.out.built(), pa.in.built())
			}
			da.expiry(clk.Advance(30 * time.Second))
			db.expiry(time.Unix(2000, 0).Add(30 * time.Second)) // receive opens at 2000 s
			if ciphers(da) != 0 || ciphers(db) != 0 {
				t.Fatalf("all idle: %d and %d directions built, want 0", ciphers(da), ciphers(db))
			}
			send(2) // both ends build their state again
			if !pa.out.built() || !pb.in.built() || pa.in.built() || pb.out.built() {
				t.Fatalf("after a packet a→b: a out %v in %v, b in %v out %v; want only a out and b in",
					pa.out.built(), pa.in.built(), pb.in.built(), pb.out.built())
			}
			send(3)
			if c := pb.counters(); c.InPackets != 3 || len(c.Dropped) != 0 {
				t.Fatalf("b's counters: %+v", c)
			}
		})
	}
}

// TestCipherIdleNever checks that a negative CipherIdle keeps the state.
func TestCipherIdleNever(t *testing.T) {
	spa, _ := testPairs(t, addrA, addrB, kernel.ModeTransport, kernel.AESGCM16, false)
	pa := mustPair(t, spa)
	d, clk := clockedDevice()
	d.cfg.CipherIdle = -1
	d.pairs[pa.id] = pa
	d.publish()
	d.expiry(clk.Advance(time.Hour))
	if d.Stats().Ciphers != 2 {
		t.Fatalf("CipherIdle -1: %d directions built after an idle hour, want 2", d.Stats().Ciphers)
	}
}

// TestCipherReleaseRace seals on several goroutines while the state is
// released again and again: every packet must still seal to the same
// bytes (run with -race to check the swap).
func TestCipherReleaseRace(t *testing.T) {
	spa, _ := testPairs(t, addrA, addrB, kernel.ModeTransport, kernel.AESGCM16, false)
	pa := mustPair(t, spa)
	c := &pa.out.espCipher
	want := c.aead().Seal(nil, make([]byte, 12), []byte("payload"), nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				c.release()
			}
		}
	})
	var failed sync.Once
	var workers sync.WaitGroup
	for range 4 {
		workers.Go(func() {
			for range 2000 {
				if got := c.aead().Seal(nil, make([]byte, 12), []byte("payload"), nil); !bytes.Equal(got, want) {
					failed.Do(func() { t.Errorf("sealed %x, want %x", got, want) })
				}
			}
		})
	}
	workers.Wait()
	close(stop)
	wg.Wait()
}
