package conn_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/oe/conn"
	"github.com/oemesh/oemesh/oe/internal/oetest"
	"github.com/oemesh/oemesh/oe/tunnel"
)

// lockedBuffer is a log destination the engine's goroutines share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count is the number of lines at level (INFO, DEBUG) with message msg.
func (b *lockedBuffer) count(level, msg string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Count(b.buf.String(), "level="+level+" msg=\""+msg+"\"")
}

// TestConnLinesOncePerConn: a conn serving many peers (remote %any,
// road warriors proving one ID) logs "conn up" and "conn down" at info
// when the conn itself comes up and goes down, and at debug for each
// further tunnel that joins or leaves it while it stays up (the tunnel's
// own "tunnel up" and "tunnel down" lines say that at info). An OE
// responder's busy conn logged five info lines per handshake before,
// two of them saying again what the tunnel's line had said.
func TestConnLinesOncePerConn(t *testing.T) {
	logs := &lockedBuffer{}
	h := &hub{m: map[netip.Addr]node{}}
	gw := newGatewayLog(t, hubPort{h}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	rwID := ike.FQDNIdentity("rw.example")
	rw, _ := newPSKStack(t, rwID, hubPort{h})
	h.m[gwA] = gw
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := gw.conns.Add(ctx, conn.Conn{Mode: ike.ModeTunnel, Name: "rw", Local: gwA, RemoteID: rwID, LocalSubnets: []netip.Prefix{netA},
		Auth: ike.AuthKindPSK}); err != nil {
		t.Fatal(err)
	}
	tunnels := func() int {
		for _, s := range gw.conns.List() {
			if s.Name == "rw" {
				return s.Tunnels
			}
		}
		return -1
	}
	const peers = 3
	var ids []ike.SAID
	for i := range peers {
		addr := netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)})
		h.m[addr] = rw
		info, err := rw.Engine().Initiate(ctx, ike.InitiateOptions{
			Remote: netip.AddrPortFrom(gwA, 500), Local: addr, Auth: ike.AuthKindPSK, PeerAuth: ike.AuthKindPSK,
			PeerID: ike.AddrIdentity(gwA), TSi: []ike.TrafficSelector{ike.HostSelector(addr)},
			TSr: []ike.TrafficSelector{tunnel.Selector(netA)}, Mode: ike.ModeTunnel,
		})
		if err != nil {
			t.Fatalf("initiation from %s: %v", addr, err)
		}
		ids = append(ids, info.IKE)
		oetest.WaitFor(t, "the conn holds the new tunnel", func() bool { return tunnels() == i+1 })
		oetest.WaitFor(t, "the conn up line", func() bool { return logs.count("INFO", "conn up")+logs.count("DEBUG", "conn up") == i+1 })
	}
	if info, debug := logs.count("INFO", "conn up"), logs.count("DEBUG", "conn up"); info != 1 || debug != peers-1 {
		t.Errorf("%d peers up: %d \"conn up\" lines at info (want 1, the conn's), %d at debug (want %d)\n%s", peers, info, debug, peers-1, logs)
	}
	for i, id := range ids {
		if err := rw.Engine().DeleteIKE(ctx, id); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
		oetest.WaitFor(t, "the conn lets the tunnel go", func() bool { return tunnels() == peers-1-i })
		oetest.WaitFor(t, "the conn down line", func() bool { return logs.count("INFO", "conn down")+logs.count("DEBUG", "conn down") == i+1 })
	}
	if info, debug := logs.count("INFO", "conn down"), logs.count("DEBUG", "conn down"); info != 1 || debug != peers-1 {
		t.Errorf("the peers deleted their SAs: %d \"conn down\" lines at info (want 1, the last), %d at debug (want %d)\n%s", info, debug, peers-1, logs)
	}
}
