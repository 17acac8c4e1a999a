package xfrm

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/kernel"
)

// TestNoGapAcrossCrashAndRestart: a sender that never pauses keeps
// sending to a private peer while the data plane is killed (its kernel
// state stays), started again and given its trap again; not one datagram
// may reach the peer. The start used to remove every policy of ours before
// the new traps were in.
func TestNoGapAcrossCrashAndRestart(t *testing.T) {
	p := netnstest.NewPair(t, "xgap")
	got := p.B.UDPSink(t, "udp4", p.B4.String()+":9")
	c := p.A.UDPConn(t, "udp4", ":0")
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.B4, 9))
	for deadline := time.Now().Add(2 * time.Second); got.Count() == 0 && time.Now().Before(deadline); {
		_, _ = c.WriteTo([]byte("before"), to)
		time.Sleep(10 * time.Millisecond)
	}
	if got.Count() == 0 {
		t.Fatal("the peer receives nothing even without a data plane")
	}

	ctx := context.Background()
	trap := kernel.Trap{Prefix: netip.PrefixFrom(p.B4, 32), Group: kernel.GroupPrivate}
	crashed := open(t, p.A, Options{KeepLarvalDrop: true})
	if err := crashed.SetTrap(ctx, trap); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	got.Reset()
	var sent atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = c.WriteTo([]byte("leak?"), to)
			sent.Add(1)
		}
	}()
	time.Sleep(20 * time.Millisecond)
	crashed.sub.Close() // the kernel state stays as after SIGKILL
	<-crashed.readerOK
	crashed.mu.Lock()
	crashed.closed = true
	crashed.mu.Unlock()
	crashed.ex.stop()
	time.Sleep(20 * time.Millisecond)
	d := open(t, p.A, Options{KeepLarvalDrop: true})
	time.Sleep(20 * time.Millisecond)
	if err := d.SetTrap(ctx, trap); err != nil {
		t.Fatal(err)
	}
	if n, err := d.RemoveStaleTraps(ctx); n != 0 || err != nil {
		t.Fatalf("RemoveStaleTraps: %d, %v; want 0 (the one trap was set again)", n, err)
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	<-done
	time.Sleep(50 * time.Millisecond)
	if n := got.Count(); n != 0 {
		t.Fatalf("%d of %d datagrams to the private peer reached it in clear across the crash and the restart", n, sent.Load())
	}
	t.Logf("%d datagrams sent across the crash and the restart, none arrived", sent.Load())
}
