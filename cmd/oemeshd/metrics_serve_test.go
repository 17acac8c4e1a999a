package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/clock/clocktest"
	"github.com/oemesh/oemesh/internal/version"
	"github.com/oemesh/oemesh/oe"
)

// TestMetricsOnlyAtPath: /metrics answers with metrics; every other path
// is a 404.
func TestMetricsOnlyAtPath(t *testing.T) {
	srv := httptest.NewServer(metricsHandler(prometheus.NewRegistry()))
	defer srv.Close()
	for path, want := range map[string]int{"/metrics": 200, "/": 404, "/foo": 404, "/metrics/x": 404, "/metricsx": 404} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// fakeKeys answers look-ups after advancing a fake clock.
type fakeKeys struct {
	clk *clocktest.Fake
	err error
}

func (k fakeKeys) Lookup(context.Context, dnskey.ID) (dnskey.Result, error) {
	k.clk.Advance(20 * time.Millisecond)
	return dnskey.Result{}, k.err
}

func (k fakeKeys) Authorizes(context.Context, dnskey.ID, dnskey.ID) (bool, error) { return false, nil }

// TestLatencyHistograms: look-ups, negotiations and installs land in
// their histograms, by result and phase, timed by the injected clock.
func TestLatencyHistograms(t *testing.T) {
	clk := clocktest.New()
	l := newLatency(clk)
	id := dnskey.AddrID(testPair(1).Out.Dst)
	l.keys(fakeKeys{clk: clk}).Lookup(context.Background(), id)
	l.keys(fakeKeys{clk: clk, err: dnskey.ErrNoKey}).Lookup(context.Background(), id)
	l.keys(fakeKeys{clk: clk, err: errors.New("SERVFAIL")}).Lookup(context.Background(), id)
	l.outcome(oe.Outcome{Result: oe.ResultEncrypted, Duration: 300 * time.Millisecond, IKE: 200 * time.Millisecond})
	l.outcome(oe.Outcome{Result: oe.ResultDrop, Duration: 30 * time.Second})
	l.installed(0.002, nil)
	l.installed(0.002, errors.New("refused")) // not an install

	got := strings.Join(scrape(t, collectorFunc(func(ch chan<- prometheus.Metric) {
		for _, c := range l.collectors() {
			c.Collect(ch)
		}
	})), "\n")
	for _, want := range []string{
		`oemesh_dns_lookup_duration_seconds_bucket{result="found",le="0.025"} 1`,
		`oemesh_dns_lookup_duration_seconds_bucket{result="found",le="0.01"} 0`,
		`oemesh_dns_lookup_duration_seconds_count{result="no-key"} 1`,
		`oemesh_dns_lookup_duration_seconds_count{result="failure"} 1`,
		`oemesh_negotiation_phase_duration_seconds_count{phase="dns"} 3`,
		`oemesh_negotiation_phase_duration_seconds_count{phase="ike"} 1`,
		`oemesh_negotiation_phase_duration_seconds_count{phase="install"} 1`,
		`oemesh_negotiation_duration_seconds_sum{result="encrypted"} 0.3`,
		`oemesh_negotiation_duration_seconds_bucket{result="drop",le="10"} 0`,
		`oemesh_negotiation_duration_seconds_count{result="drop"} 1`,
	} {
		if !strings.Contains(got, want+"\n") && !strings.HasSuffix(got, want) {
			t.Errorf("scrape lacks %s", want)
		}
	}
}

// promtool returns the path of promtool. Where it cannot be found the
// test fails under CI (make deps installs it: Debian's prometheus
// package) and skips elsewhere.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the prometheus package (make deps) to check the metrics' form")
	}
	return p
}

// promtoolCheck runs promtool check metrics on an exposition and fails
// the test with what it says, if anything.
func promtoolCheck(t *testing.T, exposition []byte) {
	t.Helper()
	cmd := exec.Command(promtool(t), "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestPromtoolCheckMetrics: every metric oemeshd makes passes promtool's
// lint (names, units, suffixes, help), with every label filled in.
func TestPromtoolCheckMetrics(t *testing.T) {
	clk := clocktest.New()
	l := newLatency(clk)
	l.keys(fakeKeys{clk: clk}).Lookup(context.Background(), dnskey.AddrID(testPair(1).Out.Dst))
	l.outcome(oe.Outcome{Result: oe.ResultEncrypted, Duration: time.Second, IKE: time.Second})
	l.installed(0.001, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(l.collectors()...)
	reg.MustRegister(collectorFunc(func(ch chan<- prometheus.Metric) {
		m := metricSink{ch}
		buildInfoMetric(m, version.Get())
		keyExchangeMetrics(m, ikeSAsView([]ike.SAInfo{{KeyExchanges: ike.KeyExchanges{ike.DHCurve25519}, Children: []ike.ChildSAInfo{{SPIIn: 1}}}}))
		certFailureMetrics(m, map[string]uint64{"expired": 1})
		ikeMetrics(m, ike.Stats{Received: 1, Drops: map[ike.DropReason]uint64{ike.DropBadCookie: 1}})
		trafficMetrics(m, trafficTotals{InBytes: 1, OutBytes: 2, InPackets: 1, OutPackets: 1})
	}))
	srv := httptest.NewServer(metricsHandler(reg))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	promtoolCheck(t, body)
}
