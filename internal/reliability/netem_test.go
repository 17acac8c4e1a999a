package reliability

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

var (
	// longForm runs the loss and reordering scenario's long form
	// (bench/reliability-long.sh): more negotiations, a longer liveness
	// period, a bigger transfer.
	longForm = flag.Bool("reliability.long", false, "run the long form of the slow scenarios (TestLossReorder)")
	// defenceOff drops IKE retransmissions on the lossy link: the run that
	// shows TestLossReorder fails without them.
	defenceOff = flag.Bool("reliability.defence-off", false, "TestLossReorder: drop every IKE retransmission on the lossy link (it must then fail)")
)

// lossForm is how much one condition of TestLossReorder does.
type lossForm struct {
	negotiations int
	liveness     time.Duration // the engine's liveness interval
	period       time.Duration // how long the established tunnel is watched
	transfer     int           // bytes through the tunnel over TCP
}

var (
	lossShort = lossForm{negotiations: 4, liveness: time.Second, period: 6 * time.Second, transfer: 1 << 20}
	lossLong  = lossForm{negotiations: 20, liveness: time.Second, period: 30 * time.Second, transfer: 8 << 20}
)

const metricsAt = "127.0.0.1:9641" // in each host's namespace

// TestLossReorder: the packets a sends b cross a lossy link (netem's
// loss, and delay with jitter that reorders), in sub-tests for 10% loss,
// 30% loss and 60 ms ± 50 ms. Under each, a (b in its private group)
// negotiates OE with b again and again (`oemesh down`, `oemesh up`): every
// negotiation must complete, through IKE's retransmissions; the
// established tunnel must survive the engine's liveness checks (every
// second here, a conn's dpd.interval setting the engine's) for the period,
// the same SA at the end as at the start, with several checks made; and a
// TCP transfer from a to b through the tunnel must arrive whole (b sends
// back the SHA-256 of what it read). The CI form is lossShort; -args
// -reliability.long runs lossLong (bench/reliability-long.sh), and
// -reliability.defence-off drops IKE retransmissions on the link, which
// must make the test fail.
func TestLossReorder(t *testing.T) {
	form := lossShort
	if *longForm {
		form = lossLong
	}
	for _, tc := range []struct {
		name string
		im   impairment
	}{
		{"loss10", impairment{loss: 0.10}},
		{"loss30", impairment{loss: 0.30}},
		{"jitter50", impairment{delay: 60 * time.Millisecond, jitter: 50 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.im.dropRetransmits = *defenceOff
			testLossReorder(t, form, tc.im)
		})
	}
}

func testLossReorder(t *testing.T, form lossForm, im impairment) {
	m := newMesh(t)
	ctx := ctxT(t, 10*time.Minute)
	a, b := m.Hosts["a"], m.Hosts["b"]
	// A conn's dpd.interval is the engine's liveness interval for every
	// IKE SA, OE's too; the conn itself (to an address nobody has, respond
	// only) never comes up.
	// ESP-in-UDP sent with UDP GSO crosses the veth as one super-frame
	// per run of segments; the relay cuts each into its datagrams
	// (splitUDPGSO), as a real link would have carried them, and loses
	// or delays each on its own.
	extra := func(h *lab.MeshHost) string {
		return fmt.Sprintf("dataplane: userspace\nmetrics:\n  listen: %q\nconns:\n  - name: liveness\n    local: %s\n    remote: 198.18.0.99\n    dpd: {interval: %s, action: hold}\n",
			metricsAt, h.Addr4, form.liveness)
	}
	start(t, m, ctx, "b", lab.HostConfig{Policies: responderPolicies, Extra: extra(b)})
	start(t, m, ctx, "a", lab.HostConfig{Policies: map[string]string{"private": b.Addr4.String() + "/32\n", "clear": clearDNS}, Extra: extra(a)})
	link, err := impairLink(m, "a", "b", im)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(link.close)

	// Negotiations, one after another.
	m0 := scrape(t, a.Node)
	var took []time.Duration
	failed := 0
	for i := range form.negotiations {
		if i > 0 {
			// Nothing to delete after a failed negotiation: down says so.
			if out, err := m.CLI(ctx, "a", "--json", "down", b.Addr4.String()); err != nil && tunnelTo(t, m, "a", b.Addr4.String()) != nil {
				t.Fatalf("oemesh down: %v\n%s", err, out)
			}
		}
		began := time.Now()
		out, err := m.CLI(ctx, "a", "--json", "up", b.Addr4.String())
		var r control.UpReply
		if err == nil {
			err = json.Unmarshal([]byte(out), &r)
		}
		if err != nil || !r.OK {
			failed++
			t.Logf("negotiation %d failed after %v: %v %s", i+1, time.Since(began).Round(time.Millisecond), err, out)
			continue
		}
		took = append(took, time.Since(began))
	}
	m1 := scrape(t, a.Node)
	retransmits := m1["oemesh_ike_retransmits_total"] - m0["oemesh_ike_retransmits_total"]
	t.Logf("FIGURE loss/reorder (%s): %d of %d negotiations completed; time median %v, max %v; %.0f IKE retransmits by a (%.1f per negotiation)",
		im, len(took), form.negotiations, median(took).Round(time.Millisecond), slices.Max(append(took, 0)).Round(time.Millisecond),
		retransmits, retransmits/float64(form.negotiations))
	if failed > 0 {
		t.Errorf("%d of %d negotiations did not complete under %s", failed, form.negotiations, im)
	}

	// Liveness: the tunnel must stay while the engine checks it, with
	// pings through it (so that b's responder probe, which asks only
	// about a silent tunnel, stays out of it).
	before := tunnelTo(t, m, "a", b.Addr4.String())
	if before == nil {
		out, _ := m.CLI(ctx, "a", "--json", "up", b.Addr4.String())
		if before = tunnelTo(t, m, "a", b.Addr4.String()); before == nil {
			t.Fatalf("no tunnel a→b to watch: %s", out)
		}
	}
	p, err := lab.StartPinger(ctx, a.Node, b.Addr4, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	m2 := scrape(t, a.Node)
	time.Sleep(form.period)
	p.Stop()
	m3 := scrape(t, a.Node)
	after := tunnelTo(t, m, "a", b.Addr4.String())
	onB := tunnelTo(t, m, "b", a.Addr4.String())
	out := m3[`oemesh_ike_messages_total{direction="out"}`] - m2[`oemesh_ike_messages_total{direction="out"}`]
	in := m3[`oemesh_ike_messages_total{direction="in"}`] - m2[`oemesh_ike_messages_total{direction="in"}`]
	same := after != nil && after.SPIIn == before.SPIIn && onB != nil
	t.Logf("FIGURE loss/reorder (%s): tunnel watched %v with liveness every %v: kept %v; a sent %.0f IKE messages and received %.0f meanwhile (%.0f retransmits)",
		im, form.period, form.liveness, same, out, in, m3["oemesh_ike_retransmits_total"]-m2["oemesh_ike_retransmits_total"])
	if !same {
		t.Errorf("the tunnel did not survive the liveness checks under %s: before %+v, after on a %+v, on b %+v", im, before, after, onB)
	}
	// Both sides check every interval: a's requests and its answers to
	// b's; ask for half of a's own.
	if min := float64(form.period/form.liveness) / 2; out < min {
		t.Errorf("a sent %.0f IKE messages in %v with liveness every %v, want ≥ %.0f: the checks did not run", out, form.period, form.liveness, min)
	}

	// A TCP transfer from a to b through the tunnel.
	if tunnelTo(t, m, "a", b.Addr4.String()) == nil {
		if out, err := m.CLI(ctx, "a", "--json", "up", b.Addr4.String()); err != nil {
			t.Fatalf("oemesh up before the transfer: %v %s", err, out)
		}
	}
	dur, err := transfer(ctx, a.Node, b.Node, netip.AddrPortFrom(b.Addr4, 5001), form.transfer)
	t.Logf("FIGURE loss/reorder (%s): TCP transfer of %d KiB a→b in %v (%.2f Mbit/s); link: %d packets a→b impaired, %d lost, %d reordered, %d IKE retransmissions dropped, %d send errors",
		im, form.transfer>>10, dur.Round(time.Millisecond), float64(form.transfer)*8/dur.Seconds()/1e6,
		link.impaired.Load(), link.lost.Load(), link.reordered.Load(), link.retransmitsDropped.Load(), link.sendErrs.Load())
	if err != nil {
		t.Errorf("TCP transfer through the tunnel under %s: %v", im, err)
	}
	if link.lost.Load() == 0 && im.loss > 0 {
		t.Errorf("the link lost nothing under %s: the scenario did not impair", im)
	}
	if link.reordered.Load() == 0 && im.jitter > 0 {
		t.Errorf("the link reordered nothing under %s: the scenario did not impair", im)
	}
}

// transfer sends size random bytes from a to b's TCP port at dst; b
// answers with the SHA-256 of what it read, which must be that of what was
// sent. It returns how long that took.
func transfer(ctx context.Context, a, b *lab.Node, dst netip.AddrPort, size int) (time.Duration, error) {
	var ln net.Listener
	if err := b.Do(func() (err error) {
		ln, err = net.Listen("tcp4", dst.String())
		return err
	}); err != nil {
		return 0, fmt.Errorf("listening in b: %w", err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		h := sha256.New()
		if _, err := io.Copy(h, c); err != nil {
			return
		}
		c.Write(h.Sum(nil))
	}()
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	var c net.Conn
	began := time.Now()
	d := net.Dialer{Timeout: 10 * time.Second}
	if err := a.Do(func() (err error) {
		c, err = d.DialContext(ctx, "tcp4", dst.String())
		return err
	}); err != nil {
		return 0, fmt.Errorf("connecting from a: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	if _, err := c.Write(data); err != nil {
		return time.Since(began), fmt.Errorf("sending: %w", err)
	}
	c.(*net.TCPConn).CloseWrite()
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, got); err != nil {
		return time.Since(began), fmt.Errorf("reading b's hash: %w", err)
	}
	took := time.Since(began)
	if string(got) != string(want[:]) {
		return took, fmt.Errorf("b read %x, a sent %x: the stream arrived changed", got, want)
	}
	return took, nil
}

// scrape reads a host's metrics (Prometheus text) into name{labels} →
// value.
func scrape(t *testing.T, n *lab.Node) map[string]float64 {
	t.Helper()
	var c net.Conn
	if err := n.Do(func() (err error) {
		c, err = net.DialTimeout("tcp4", metricsAt, 5*time.Second)
		return err
	}); err != nil {
		t.Fatalf("metrics in %s: %v", n.NSName, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n", metricsAt)
	out := map[string]float64{}
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	if len(out) == 0 {
		t.Fatalf("no metrics from %s in %s", metricsAt, n.NSName)
	}
	return out
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
