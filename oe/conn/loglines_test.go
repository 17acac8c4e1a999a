package conn_test

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/logtest"
	"github.com/oemesh/oemesh/oe/internal/oetest"
)

// count is the number of lines at level (INFO, DEBUG) with message msg.
// TestConnLinesSayWhatTheTunnelsDoNot: a conn's tunnel coming up and
// going by the peer's Delete is told at info by the tunnel's own lines
// ("tunnel up", "tunnel down") and ike's "peer deleted the IKE SA"; the
// conn's "conn up" and "conn down" lines repeat them at debug only. A
// busy responder logged five info lines per handshake before, two of
// them repeats. "conn down" stays at info when it says more: a tunnel
// lost to DPD (or any cause but an orderly delete), or a restart.
func TestConnLinesSayWhatTheTunnelsDoNot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &logtest.Buffer{}
	r := newRoadWarriors(t, ctx, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	gw := r.gw
	const peers = 3
	var ids []ike.SAID
	for i := range peers {
		info := r.connect(t, ctx, netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)}))
		ids = append(ids, info.IKE)
		oetest.WaitFor(t, "the conn up line", func() bool { return logs.Lines("INFO", "conn up")+logs.Lines("DEBUG", "conn up") == i+1 })
	}
	if up, info, debug := logs.Lines("INFO", "tunnel up"), logs.Lines("INFO", "conn up"), logs.Lines("DEBUG", "conn up"); up != peers || info != 0 || debug != peers {
		t.Errorf("%d peers up: %d \"tunnel up\" lines at info (want %d), \"conn up\" %d at info (want 0) and %d at debug (want %d)\n%s",
			peers, up, peers, info, debug, peers, logs)
	}
	for i, id := range ids {
		if err := r.rw.Engine().DeleteIKE(ctx, id); err != nil {
			t.Fatalf("delete %s: %v", id, err)
		}
		oetest.WaitFor(t, "the conn lets the tunnel go", func() bool { return r.tunnels() == peers-1-i })
		oetest.WaitFor(t, "the conn down line", func() bool { return logs.Lines("INFO", "conn down")+logs.Lines("DEBUG", "conn down") == i+1 })
	}
	if down, info, debug := logs.Lines("INFO", "tunnel down"), logs.Lines("INFO", "conn down"), logs.Lines("DEBUG", "conn down"); down != peers || info != 0 || debug != peers {
		t.Errorf("the peers deleted their SAs: %d \"tunnel down\" lines at info (want %d), \"conn down\" %d at info (want 0) and %d at debug (want %d)\n%s",
			down, peers, info, debug, peers, logs)
	}

	// A tunnel DPD found dead: "conn down" at info, with the cause.
	info := gw.rwTunnel(0x7f000001, netip.MustParseAddr("198.18.1.1"), ike.SAID{}, roadWarriorID)
	gw.conns.OnChildUp(info)
	gw.conns.OnChildDown(info, ike.ErrTimeout)
	if n := logs.Lines("INFO", "conn down"); n != 1 || !strings.Contains(logs.String(), "spi_in=7f000001 cause=") {
		t.Errorf("a tunnel lost to DPD: %d \"conn down\" lines at info (want 1, with the cause)\n%s", n, logs)
	}
}
