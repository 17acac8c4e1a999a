// Command dnsstub measures the latency the DNS stub (dnskey/stub) adds to
// an application's DNS answers. One run, on loopback, against one
// in-process upstream that answers at once: -n queries straight to the
// upstream and -n through the stub, interleaved so that both series see
// the same load, each a fresh A question for a name whose address is in
// an OE group. The stub runs as oemeshd runs it: key look-ups at every
// name (a key source that answers at once), a binder and a prestart that
// only count, so the figure includes the hand-off to that background
// work, which must not delay the answer. It prints p50, p99 and max of
// each series and the stub's ratio to direct.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/dnskey/stub"
)

func main() {
	n := flag.Int("n", 5000, "queries per series")
	flag.Parse()
	r, err := measure(*n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dnsstub:", err)
		os.Exit(1)
	}
	fmt.Print(r)
}

// result is the two series' percentiles.
type result struct {
	n             int
	direct, stub  []time.Duration // sorted
	binds, starts int64
}

func pct(s []time.Duration, p float64) time.Duration { return s[min(len(s)-1, int(float64(len(s))*p))] }

func (r result) String() string {
	row := func(name string, s []time.Duration) string {
		return fmt.Sprintf("| %s | %v | %v | %v |\n", name, pct(s, .5).Round(time.Microsecond), pct(s, .99).Round(time.Microsecond), s[len(s)-1].Round(time.Microsecond))
	}
	out := fmt.Sprintf("%d A queries per series over UDP on loopback (bindings %d, prestarts %d)\n\n", r.n, r.binds, r.starts)
	out += "| path | p50 | p99 | max |\n| --- | --- | --- | --- |\n"
	out += row("direct to the upstream", r.direct) + row("through the stub", r.stub)
	out += fmt.Sprintf("\nratio stub/direct: p50 %.2f, p99 %.2f; added p50 %v, p99 %v\n",
		float64(pct(r.stub, .5))/float64(pct(r.direct, .5)), float64(pct(r.stub, .99))/float64(pct(r.direct, .99)),
		(pct(r.stub, .5) - pct(r.direct, .5)).Round(time.Microsecond), (pct(r.stub, .99) - pct(r.direct, .99)).Round(time.Microsecond))
	return out
}

// instantKeys answers every look-up at once with no key.
type instantKeys struct{}

func (instantKeys) Lookup(_ context.Context, id dnskey.ID) (dnskey.Result, error) {
	return dnskey.Result{ID: id}, nil
}

// countingBinder counts Binds; its pending marks go to a real binding
// store, since the stub makes them on the answer's path.
type countingBinder struct {
	n       atomic.Int64
	pending *dnskey.Bindings
}

func (b *countingBinder) Pend(addrs []netip.Addr) *dnskey.Pending { return b.pending.Pend(addrs) }

func (b *countingBinder) Bind(string, []netip.Addr, dnskey.Result, time.Duration) error {
	b.n.Add(1)
	return nil
}

func measure(n int) (result, error) {
	up, stop, err := upstream()
	if err != nil {
		return result{}, err
	}
	defer stop()
	store, err := dnskey.NewBindings(dnskey.BindingsConfig{})
	if err != nil {
		return result{}, err
	}
	binder := &countingBinder{pending: store}
	var starts atomic.Int64
	s, err := stub.New(stub.Config{
		Listen:    netip.MustParseAddrPort("127.0.0.1:0"),
		Upstreams: []string{up},
		InOE:      func(netip.Addr) bool { return true },
		Keys:      instantKeys{},
		Binder:    binder,
		Prestart:  func(context.Context, netip.Addr) bool { starts.Add(1); return true },
	})
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Serve(ctx); err != nil {
		return result{}, err
	}
	defer s.Close()
	via := s.Addr().String()

	c := dns.Client{Timeout: 2 * time.Second}
	ask := func(server string, i int, tag string) (time.Duration, error) {
		q := new(dns.Msg)
		q.SetQuestion(fmt.Sprintf("h%d-%s.example.", i, tag), dns.TypeA)
		t0 := time.Now()
		resp, _, err := c.Exchange(q, server)
		d := time.Since(t0)
		if err == nil && len(resp.Answer) != 1 {
			err = fmt.Errorf("answer %v", resp)
		}
		return d, err
	}
	r := result{n: n}
	for i := range n + n/10 { // the first tenth warms up
		d1, err := ask(up, i, "d")
		if err != nil {
			return r, fmt.Errorf("direct: %w", err)
		}
		d2, err := ask(via, i, "s")
		if err != nil {
			return r, fmt.Errorf("through the stub: %w", err)
		}
		if i >= n/10 {
			r.direct, r.stub = append(r.direct, d1), append(r.stub, d2)
		}
	}
	slices.Sort(r.direct)
	slices.Sort(r.stub)
	s.Close()
	r.binds, r.starts = binder.n.Load(), starts.Load()
	return r, nil
}

// upstream serves, on loopback, an A record in 192.0.2.0/24 for any name.
func upstream() (string, func(), error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: net.IPv4(192, 0, 2, byte(req.Id))}}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	return pc.LocalAddr().String(), func() { srv.Shutdown() }, nil
}
