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
//	    then sends its first echo at once, with the stub in each of its
//	    configurations (stubVariants): (2a) the key look-up after the
//	    answer, (2b) with the query (the default), (2c) (2b) with the
//	    answer held for the negotiation;
//	(2') the same as (2b), but no echo: the time from the answer to the
//	    SA installed on a;
//	(3) an echo over the tunnel (2') brought up, once it is up.
//
// Both daemons restart before (1), each (2) and (2'), so every case
// starts with empty caches and no SA. The embedded firstEcho is (2b),
// the daemon's default; variants holds every (2), (2b) included.
type prestartSeries struct {
	firstEcho
	variants                 []*firstEcho
	cold, ready, established []time.Duration
	coldTook                 []time.Duration // (1): a's took= (trapped packet → SA installed)
	readyTook                []time.Duration // (2'): a's took= (prestart → SA installed)
	answerDirect             []time.Duration // the application's DNS query straight to the resolver
}

// firstEcho is case (2) with one configuration of the stub.
type firstEcho struct {
	name       string
	prestart   []time.Duration // the first echo's RTT (answered runs)
	gap        []time.Duration // the answer's arrival → the echo sent
	answerStub []time.Duration // the application's DNS query through the stub
	answerAdd  []time.Duration // answerStub − answerDirect, paired by run
	diff       []time.Duration // prestart − (3), paired by run, in the runs whose echo was answered
	trapped    int             // runs where the first echo was trapped (a counted an acquire)
	// Runs whose first echo went unanswered; of them, those where a
	// logged its negotiation as failed, and those where a second echo,
	// 100 ms later, was answered.
	lost, lostOEFailed, lostThenAnswered int
	prestarted                           int           // runs where the stub counted its prestart
	held, holdTimeouts                   int           // the stub's counters, summed over the runs
	rtt                                  time.Duration // this run's first echo (0: lost), until (3) pairs it
}

// stubVariant is one configuration of a's stub in case (2).
type stubVariant struct {
	name string
	// stub is more of the dns.stub: section, after its listen: key (four
	// spaces deep: lab.HostConfig.DNS follows that key directly).
	stub string
	// oemeshd, when set, is the daemon both a and b run instead of the
	// mesh's.
	oemeshd string
	// deflt marks the daemon's default configuration: (2b), the one (2')
	// and (3) are measured with.
	deflt bool
}

// stubVariants are the stub's configurations case (2) runs with, hold
// the bound of (2c)'s dns.stub.hold; with old (a previous oemeshd) first
// that daemon's prestart, on both hosts.
func stubVariants(hold time.Duration, old string) []stubVariant {
	var vs []stubVariant
	if old != "" {
		vs = append(vs, stubVariant{name: "(2o) prestart, the previous oemeshd (-old): key look-up after the answer, no responder prefetch", oemeshd: old})
	}
	return append(vs,
		stubVariant{name: "(2a) prestart, key look-up after the answer (dns.stub.early_lookup: false)", stub: "    early_lookup: false\n"},
		stubVariant{name: "(2b) prestart, key look-up with the query (dns.stub.early_lookup: true, the default)", deflt: true},
		stubVariant{name: fmt.Sprintf("(2c) prestart + hold (dns.stub.hold: %v)", hold), stub: fmt.Sprintf("    hold: %s\n", hold)},
	)
}

// measurePrestart runs the prestart case runs times with both daemons on
// ike.pq mode ("": the default), b's key found as keys says (keysReverse,
// keysForward), (2c)'s answers held at most hold, (2o) with the previous
// oemeshd old if set, and prints its figures.
func measurePrestart(ctx context.Context, m *lab.Mesh, runs int, mode, keys string, hold time.Duration, old string) (*prestartSeries, error) {
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

	// restart starts b, then a, fresh; a runs the stub, configured as v
	// says, when v is set. Without the stub, b is as today: it proves its
	// address, whose reverse name holds its key (an initiator that looked
	// up the reverse name refuses an @name identity).
	restart := func(v *stubVariant) error {
		for _, n := range []string{"b", "a"} {
			m.StopDaemon(n, syscall.SIGTERM)
		}
		hb := withPQ(responder, mode) // today's b: its address as its identity
		if v != nil {
			hb = bConf
			hb.Oemeshd = v.oemeshd
		}
		if err := m.StartDaemon(ctx, "b", hb); err != nil {
			return err
		}
		hc := withPQ(initiator, mode)
		if v != nil {
			hc.StubListen = stubListen
			hc.DNS = v.stub
			hc.Oemeshd = v.oemeshd
		}
		return m.StartDaemon(ctx, "a", hc)
	}
	variants := stubVariants(hold, old)
	deflt := &variants[slices.IndexFunc(variants, func(v stubVariant) bool { return v.deflt })]
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
	for _, v := range variants {
		fe := &firstEcho{name: v.name}
		if v.deflt {
			fe = &s.firstEcho
			fe.name = v.name
		}
		s.variants = append(s.variants, fe)
	}
	for i := range runs {
		// (1) No prestart: the echo is trapped and starts OE.
		if err := restart(nil); err != nil {
			return nil, err
		}
		mark := len(m.Log("a"))
		_, direct, err := query(m.DNSAt)
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
		s.answerDirect = append(s.answerDirect, direct)
		s.cold = append(s.cold, rtt)
		s.coldTook = append(s.coldTook, took)

		// (2) Prestart, and the echo right after the answer, with each
		// configuration of the stub.
		for k := range variants {
			fe := s.variants[k]
			if err := restart(&variants[k]); err != nil {
				return nil, err
			}
			if err := fe.run(ctx, m, ap, ctl, b, func() (time.Time, time.Duration, error) { return query(stubAt) }, direct); err != nil {
				return nil, fmt.Errorf("prestart run %d, %s: %w", i+1, fe.name, err)
			}
		}

		// (2') Prestart, no packet: when is the SA installed? (3) Then an
		// echo over it.
		if err := restart(deflt); err != nil {
			return nil, err
		}
		mark = len(m.Log("a"))
		at, _, err := query(stubAt)
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
		var st control.Status
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
		for _, fe := range s.variants {
			if fe.rtt > 0 {
				fe.diff = append(fe.diff, fe.rtt-rtt)
			}
		}
		if (i+1)%5 == 0 || i+1 == runs {
			fmt.Fprintf(os.Stderr, "oelatency: prestart %d/%d runs\n", i+1, runs)
		}
	}
	s.print(os.Stdout, runs, mode, keys)
	return s, nil
}

// run is one sample of case (2): the application resolves b's name
// through a's stub (query) and sends its first echo at once; direct is
// this run's answer straight from the resolver, to pair with.
func (fe *firstEcho) run(ctx context.Context, m *lab.Mesh, ap *app, ctl *control.Client, b netip.Addr, query func() (time.Time, time.Duration, error), direct time.Duration) error {
	at, q, err := query()
	if err != nil {
		return err
	}
	mark := len(m.Log("a"))
	rtt, sent, err := ap.echo(ctx, b)
	lost := errors.Is(err, errNoReply)
	if err != nil && !lost {
		return err
	}
	fe.rtt = 0
	if lost {
		// Count it, say what a's negotiation ended in, and whether the
		// flow works at all afterwards.
		fe.lost++
		if _, err := tookSince(m, mark, b, "OE failed"); err == nil {
			fe.lostOEFailed++
		}
		time.Sleep(100 * time.Millisecond)
		if _, _, err := ap.echo(ctx, b); err == nil {
			fe.lostThenAnswered++
		}
	} else {
		fe.rtt = rtt
		fe.prestart = append(fe.prestart, rtt)
	}
	var st control.Status
	if err := ctl.Do(ctx, "GET", "/v1/status", nil, &st); err != nil {
		return fmt.Errorf("a's status: %w", err)
	}
	fe.answerStub = append(fe.answerStub, q)
	fe.answerAdd = append(fe.answerAdd, q-direct)
	fe.gap = append(fe.gap, sent.Sub(at))
	if st.Counts["acquires"] > 0 {
		fe.trapped++
	}
	if st.Counts["dns_stub_prestarts"] > 0 {
		fe.prestarted++
	}
	fe.held += int(st.Counts["dns_stub_held"])
	fe.holdTimeouts += int(st.Counts["dns_stub_hold_timeouts"])
	return nil
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
// paired difference (2)−(3) of each configuration of the stub against the
// target, the DNS answer's added latency (p50, p99) of each, and the
// ratios.
func (s *prestartSeries) print(w io.Writer, runs int, mode, keys string) {
	fmt.Fprintf(w, "\nDNS-triggered prestart (issue 16), %s, b's key at its %s name (%s), %d runs, the cases alternating\n", pqName(mode), keys, prestartNames[keys], runs)
	fmt.Fprintf(w, "%-88s %10s %10s %10s %10s %10s\n", "measurement", "p50", "p90", "p99", "min", "max")
	row := func(name string, d []time.Duration) {
		if len(d) == 0 {
			fmt.Fprintf(w, "%-88s %10s\n", name, "no samples")
			return
		}
		fmt.Fprintf(w, "%-88s %10s %10s %10s %10s %10s\n", name, ms(pct(d, 50)), ms(pct(d, 90)), ms(pct(d, 99)), ms(slices.Min(d)), ms(slices.Max(d)))
	}
	row("(1) no prestart: resolve, first echo at once: RTT", s.cold)
	row("    a's took= (trapped packet → SA installed)", s.coldTook)
	for _, fe := range s.variants {
		row(fe.name+": first echo RTT", fe.prestart)
		row("    the answer's arrival → the echo sent", fe.gap)
		row("    the application's DNS query, through a's stub", fe.answerStub)
		row("    the same minus straight to the resolver (paired by run): the stub's added latency", fe.answerAdd)
		row("    first echo − (3), paired by run", fe.diff)
	}
	row("(2') prestart (2b): the stub's answer → SA installed on a (polled every "+readyPoll.String()+")", s.ready)
	row("    a's took= (prestart → SA installed)", s.readyTook)
	sum := s.summary()
	row("    the stub's answer → prestart (the two above, paired by run)", sum.toPrestart)
	row("(3) echo over the established tunnel: RTT", s.established)
	row("the application's DNS query, straight to the resolver", s.answerDirect)
	verdict := func(met bool) string {
		if met {
			return "met"
		}
		return "not met"
	}
	for _, fe := range s.variants {
		v := fe.verdict()
		fmt.Fprintf(w, "%s: target first echo − (3) ≤ %s: p50 %s (%s), p90 %s (%s); first echo lost in %d/%d runs (a logged OE failed in %d; an echo 100 ms later answered in %d), trapped in %d/%d, prestarted in %d/%d",
			fe.name[:4], ms(prestartTarget), ms(v.p50), verdict(v.metP50), ms(v.p90), verdict(v.metP90), fe.lost, runs, fe.lostOEFailed, fe.lostThenAnswered, fe.trapped, runs, fe.prestarted, runs)
		if fe.held > 0 {
			fmt.Fprintf(w, "; answers held %d, released by the bound %d", fe.held, fe.holdTimeouts)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "ratios of the p50s: (2b)/(3) %.2f, (1)/(3) %.2f, (1)/(2b) %.2f\n", sum.prestartOverEstablished, sum.coldOverEstablished, sum.coldOverPrestart)
}

// echoVerdict is one configuration's difference to (3) against the
// target.
type echoVerdict struct {
	p50, p90       time.Duration
	metP50, metP90 bool
}

func (fe *firstEcho) verdict() echoVerdict {
	v := echoVerdict{p50: pct(fe.diff, 50), p90: pct(fe.diff, 90)}
	v.metP50 = len(fe.diff) > 0 && v.p50 <= prestartTarget
	v.metP90 = len(fe.diff) > 0 && v.p90 <= prestartTarget
	return v
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
