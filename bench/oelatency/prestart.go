package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// Where b's key is found in the prestart case (-prestart).
const (
	// keysReverse: the application resolves b.lab., which has no key;
	// the stub binds nothing and the prestart finds b's key at its
	// reverse name, as an acquire does (DNS in parallel with
	// IKE_SA_INIT).
	keysReverse = "reverse"
	// keysForward: the application resolves b.example., whose IPSECKEY
	// holds b's key, and b proves @b.example (issue 16's case): the stub
	// binds the address to the name and the prestart uses the binding,
	// with no DNS of its own. b's key stays at its reverse name too, and
	// in case (1), the acquire, b proves its address as today.
	keysForward = "forward"
)

// prestartNames is the name the application resolves for b, by where its
// key is.
var prestartNames = map[string]string{keysReverse: "b.lab.", keysForward: "b.example."}

const (
	// stubListen is a's DNS stub (dns.stub.listen) in the prestart case.
	stubListen = "127.0.0.53:53"
	// prestartTarget is issue 16's target: the first echo's round trip
	// after a prestart within this of an echo over an established tunnel.
	prestartTarget = time.Millisecond
	// readyPoll is how often the SA-ready series asks a's control socket
	// whether the SA is installed: that series' resolution.
	readyPoll = 200 * time.Microsecond
)

// prestartSeries are the figures of issue 16's prestart case, one sample
// per run in each, the cases alternating within a run:
//
//	(1) no prestart: a (no stub) resolves b's name straight from the
//	    resolver, then sends its first echo at once: today's acquire path;
//	(2) prestart: a resolves b's name through its stub (dns.prestart on),
//	    then sends its first echo at once;
//	(2') the same, but no echo: the time from the answer to the SA
//	    installed on a;
//	(3) an echo over the tunnel (2') brought up, once it is up.
//
// Both daemons restart before (1), (2) and (2'), so every case starts
// with empty caches and no SA.
type prestartSeries struct {
	cold, prestart, ready, established []time.Duration
	coldTook                           []time.Duration // (1): a's took= (trapped packet → SA installed)
	readyTook                          []time.Duration // (2'): a's took= (prestart → SA installed)
	answerDirect, answerStub           []time.Duration // the application's DNS query, straight and through the stub
	gap                                []time.Duration // (2): the answer's arrival → the echo sent
	diff                               []time.Duration // (2)−(3), paired by run, in the runs whose (2) was answered
	trapped                            int             // runs of (2) where the first echo was trapped (a counted an acquire)
	// Runs of (2) whose first echo went unanswered; of them, those where
	// a logged its negotiation as failed, and those where a second echo,
	// 100 ms later, was answered.
	lost, lostOEFailed, lostThenAnswered int
	prestarted                           int // runs of (2) where the stub counted its prestart
}

// measurePrestart runs the prestart case runs times with both daemons on
// ike.pq mode ("": the default), b's key found as keys says (keysReverse,
// keysForward), and prints its figures.
func measurePrestart(ctx context.Context, m *lab.Mesh, runs int, mode, keys string) (*prestartSeries, error) {
	b := m.Hosts["b"].Addr4
	name, ok := prestartNames[keys]
	if !ok {
		return nil, fmt.Errorf("-prestart %q: want %s or %s", keys, keysReverse, keysForward)
	}
	rr, err := dns.NewRR(name + " 60 IN A " + b.String())
	if err != nil {
		return nil, err
	}
	m.DNS.Add(rr)
	bConf, peerID := withPQ(responder, mode), b.String()
	if keys == keysForward {
		key, err := dnskey.IPSECKEYRecord(dnskey.RecordSpec{Name: name, TTL: 300, Precedence: 10, PublicKey: m.Hosts["b"].Key.Public()})
		if err != nil {
			return nil, err
		}
		m.DNS.Add(key)
		peerID = "@" + strings.TrimSuffix(name, ".")
		bConf.Extra += "identity: \"" + peerID + "\"\n"
	}
	stubAt := netip.MustParseAddrPort(stubListen)
	ap, err := newApp(m.Hosts["a"].Node)
	if err != nil {
		return nil, err
	}
	defer ap.Close()
	ctl := control.NewClient(m.Hosts["a"].Socket)

	// restart starts b, then a, fresh; a runs the stub when stub is set.
	// Without the stub, b is as today: it proves its address, whose
	// reverse name holds its key (an initiator that looked up the reverse
	// name refuses an @name identity).
	restart := func(stub bool) error {
		for _, n := range []string{"b", "a"} {
			m.StopDaemon(n, syscall.SIGTERM)
		}
		hb := withPQ(responder, mode) // today's b: its address as its identity
		if stub {
			hb = bConf
		}
		if err := m.StartDaemon(ctx, "b", hb); err != nil {
			return err
		}
		hc := withPQ(initiator, mode)
		if stub {
			hc.StubListen = stubListen
		}
		return m.StartDaemon(ctx, "a", hc)
	}
	// query resolves prestartName at server from a, the socket opened
	// before the clock starts.
	query := func(server netip.AddrPort) (time.Time, time.Duration, error) {
		c, err := ap.resolver(server)
		if err != nil {
			return time.Time{}, 0, err
		}
		defer c.Close()
		return ap.resolve(c, name)
	}

	s := &prestartSeries{}
	for i := range runs {
		// (1) No prestart: the echo is trapped and starts OE.
		if err := restart(false); err != nil {
			return nil, err
		}
		mark := len(m.Log("a"))
		_, q, err := query(m.DNSAt)
		if err != nil {
			return nil, fmt.Errorf("prestart run %d, no prestart: %w", i+1, err)
		}
		rtt, _, err := ap.echo(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("prestart run %d, no prestart: %w", i+1, err)
		}
		took, err := tookSince(m, mark, b, "OE up")
		if err != nil {
			return nil, fmt.Errorf("prestart run %d, no prestart: %w", i+1, err)
		}
		s.answerDirect = append(s.answerDirect, q)
		s.cold = append(s.cold, rtt)
		s.coldTook = append(s.coldTook, took)

		// (2) Prestart, and the echo right after the answer.
		if err := restart(true); err != nil {
			return nil, err
		}
		at, q, err := query(stubAt)
		if err != nil {
			return nil, fmt.Errorf("prestart run %d, prestart: %w", i+1, err)
		}
		mark = len(m.Log("a"))
		rtt2, sent, err := ap.echo(ctx, b)
		lost := errors.Is(err, errNoReply)
		if err != nil && !lost {
			return nil, fmt.Errorf("prestart run %d, prestart: %w", i+1, err)
		}
		if lost {
			// Count it, say what a's negotiation ended in, and whether
			// the flow works at all afterwards.
			s.lost++
			if _, err := tookSince(m, mark, b, "OE failed"); err == nil {
				s.lostOEFailed++
			}
			time.Sleep(100 * time.Millisecond)
			if _, _, err := ap.echo(ctx, b); err == nil {
				s.lostThenAnswered++
			}
		}
		var st control.Status
		if err := ctl.Do(ctx, "GET", "/v1/status", nil, &st); err != nil {
			return nil, fmt.Errorf("prestart run %d, prestart: a's status: %w", i+1, err)
		}
		s.answerStub = append(s.answerStub, q)
		if !lost {
			s.prestart = append(s.prestart, rtt2)
		}
		s.gap = append(s.gap, sent.Sub(at))
		if st.Counts["acquires"] > 0 {
			s.trapped++
		}
		if st.Counts["dns_stub_prestarts"] > 0 {
			s.prestarted++
		}

		// (2') Prestart, no packet: when is the SA installed? (3) Then an
		// echo over it.
		if err := restart(true); err != nil {
			return nil, err
		}
		mark = len(m.Log("a"))
		at, _, err = query(stubAt)
		if err != nil {
			return nil, fmt.Errorf("prestart run %d, SA ready: %w", i+1, err)
		}
		ready, tunnel, err := saReady(ctx, ctl, b, at)
		if err != nil {
			return nil, fmt.Errorf("prestart run %d, SA ready: %w; a's log ends:\n%s", i+1, err, tail(m.Log("a"), 30))
		}
		took, err = tookSince(m, mark, b, "OE up")
		if err != nil {
			return nil, fmt.Errorf("prestart run %d, SA ready: %w", i+1, err)
		}
		// The SA must be the prestart's: no packet went to b.
		if err := ctl.Do(ctx, "GET", "/v1/status", nil, &st); err != nil {
			return nil, fmt.Errorf("prestart run %d, SA ready: a's status: %w", i+1, err)
		}
		if st.Counts["dns_stub_prestarts"] != 1 || st.Counts["acquires"] != 0 {
			return nil, fmt.Errorf("prestart run %d, SA ready: a counted %d prestarts and %d acquires, want 1 and 0: the SA is not the prestart's", i+1, st.Counts["dns_stub_prestarts"], st.Counts["acquires"])
		}
		// ... with b's key from where keys says.
		wantBound := uint64(0)
		if keys == keysForward {
			wantBound = 1
		}
		if st.Counts["dns_stub_bindings"] != wantBound || tunnel.PeerID != peerID {
			return nil, fmt.Errorf("prestart run %d, SA ready: %d stub bindings and peer %q, want %d and %q (b's key at its %s name)", i+1, st.Counts["dns_stub_bindings"], tunnel.PeerID, wantBound, peerID, keys)
		}
		s.readyTook = append(s.readyTook, took)
		time.Sleep(20 * time.Millisecond) // let b finish its side
		rtt, _, err = ap.echo(ctx, b)
		if err != nil {
			return nil, fmt.Errorf("prestart run %d, established: %w", i+1, err)
		}
		s.ready = append(s.ready, ready)
		s.established = append(s.established, rtt)
		if !lost {
			s.diff = append(s.diff, rtt2-rtt)
		}
		if (i+1)%5 == 0 || i+1 == runs {
			fmt.Fprintf(os.Stderr, "oelatency: prestart %d/%d runs\n", i+1, runs)
		}
	}
	s.print(os.Stdout, runs, mode, keys)
	return s, nil
}

// saReady polls a's control socket until it lists an SA with dst and
// returns the time from at to the answer that listed it, and the SA.
func saReady(ctx context.Context, ctl *control.Client, dst netip.Addr, at time.Time) (time.Duration, control.TunnelStatus, error) {
	deadline := at.Add(5 * time.Second)
	for {
		var ts []control.TunnelStatus
		if err := ctl.Do(ctx, "GET", "/v1/traffic", nil, &ts); err != nil {
			return 0, control.TunnelStatus{}, fmt.Errorf("a's traffic: %w", err)
		}
		now := time.Now()
		if i := slices.IndexFunc(ts, func(t control.TunnelStatus) bool { return t.Peer == dst.String() }); i >= 0 {
			return now.Sub(at), ts[i], nil
		}
		if now.After(deadline) {
			return 0, control.TunnelStatus{}, fmt.Errorf("no SA with %s on a %v after the stub's answer", dst, deadline.Sub(at))
		}
		time.Sleep(readyPoll)
	}
}

// print writes the prestart figures: p50 and p90 of each series, the
// paired difference (2)−(3) against the target, and the ratios.
func (s *prestartSeries) print(w io.Writer, runs int, mode, keys string) {
	fmt.Fprintf(w, "\nDNS-triggered prestart (issue 16), %s, b's key at its %s name (%s), %d runs, the cases alternating\n", pqName(mode), keys, prestartNames[keys], runs)
	fmt.Fprintf(w, "%-78s %10s %10s %10s %10s\n", "measurement", "p50", "p90", "min", "max")
	row := func(name string, d []time.Duration) {
		if len(d) == 0 {
			fmt.Fprintf(w, "%-78s %10s\n", name, "no samples")
			return
		}
		fmt.Fprintf(w, "%-78s %10s %10s %10s %10s\n", name, ms(pct(d, 50)), ms(pct(d, 90)), ms(slices.Min(d)), ms(slices.Max(d)))
	}
	row("(1) no prestart: resolve, first echo at once: RTT", s.cold)
	row("    a's took= (trapped packet → SA installed)", s.coldTook)
	row("(2) prestart: resolve through a's stub, first echo at once: RTT (answered runs)", s.prestart)
	row("    the answer's arrival → the echo sent", s.gap)
	row("(2') prestart: the stub's answer → SA installed on a (polled every "+readyPoll.String()+")", s.ready)
	row("    a's took= (prestart → SA installed)", s.readyTook)
	sum := s.summary()
	row("    the stub's answer → prestart (the two above, paired by run)", sum.toPrestart)
	row("(3) echo over the established tunnel: RTT", s.established)
	row("the application's DNS query, straight to the resolver", s.answerDirect)
	row("the application's DNS query, through a's stub", s.answerStub)
	row("(2)−(3), paired by run", sum.diff)
	verdict := func(met bool) string {
		if met {
			return "met"
		}
		return "not met"
	}
	fmt.Fprintf(w, "target (2)−(3) ≤ %s: p50 %s (%s), p90 %s (%s)\n", ms(prestartTarget), ms(sum.diffP50), verdict(sum.metP50), ms(sum.diffP90), verdict(sum.metP90))
	fmt.Fprintf(w, "ratios of the p50s: (2)/(3) %.2f, (1)/(3) %.2f, (1)/(2) %.2f\n", sum.prestartOverEstablished, sum.coldOverEstablished, sum.coldOverPrestart)
	fmt.Fprintf(w, "(2): the stub counted its prestart in %d/%d runs; the first echo was trapped (the SA not yet installed) in %d/%d\n", s.prestarted, runs, s.trapped, runs)
	fmt.Fprintf(w, "(2): the first echo went unanswered in %d/%d runs (a logged OE failed in %d of them; an echo 100 ms later was answered in %d)\n", s.lost, runs, s.lostOEFailed, s.lostThenAnswered)
}

// prestartSummary is what the prestart case concludes.
type prestartSummary struct {
	diff             []time.Duration // (2)−(3), paired by run (answered runs)
	toPrestart       []time.Duration // (2') SA ready − its took=: the stub's answer → the prestart, by run
	diffP50, diffP90 time.Duration
	metP50, metP90   bool // the difference within prestartTarget
	// Ratios of the p50s.
	prestartOverEstablished, coldOverEstablished, coldOverPrestart float64
}

func (s *prestartSeries) summary() prestartSummary {
	var sum prestartSummary
	sum.diff = s.diff
	for i := range s.ready {
		sum.toPrestart = append(sum.toPrestart, s.ready[i]-s.readyTook[i])
	}
	sum.diffP50, sum.diffP90 = pct(sum.diff, 50), pct(sum.diff, 90)
	sum.metP50 = len(sum.diff) > 0 && sum.diffP50 <= prestartTarget
	sum.metP90 = len(sum.diff) > 0 && sum.diffP90 <= prestartTarget
	c, p, e := float64(pct(s.cold, 50)), float64(pct(s.prestart, 50)), float64(pct(s.established, 50))
	sum.prestartOverEstablished, sum.coldOverEstablished, sum.coldOverPrestart = p/e, c/e, c/p
	return sum
}

// pct is the p-th percentile of d by nearest rank: the smallest sample
// with at least p% of the samples at or below it.
// It is 0 for no samples.
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	k := int(math.Ceil(float64(p)/100*float64(len(s)))) - 1
	return s[max(k, 0)]
}

// tail is the last n lines of log, for an error that needs them.
func tail(log string, n int) string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
