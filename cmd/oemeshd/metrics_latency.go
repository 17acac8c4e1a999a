package main

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oemesh/oemesh/dnskey"
	"github.com/oemesh/oemesh/internal/clock"
	"github.com/oemesh/oemesh/oe"
)

// latencyBuckets suit OE's times: a cached DNS answer or an SA install
// takes under a millisecond, a negotiation over the Internet tens to
// hundreds, and one that times out its 30 s.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// latency holds the daemon's histograms. They are observed as events
// happen, unlike the rest of the metrics, which are read at scrape time.
type latency struct {
	clock clock.Clock
	// negotiation is the time of a whole OE negotiation, by result;
	// phase splits it: dns (the key look-up), ike (the initiations) and
	// install (the SA pairs into the data plane).
	negotiation *prometheus.HistogramVec
	phase       *prometheus.HistogramVec
	// dns is the time of each key look-up, by result.
	dns *prometheus.HistogramVec
}

func newLatency(clk clock.Clock) *latency {
	return &latency{
		clock: clk,
		negotiation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oemesh_negotiation_duration_seconds",
			Help:    "Time of OE negotiations, from the first packet (or oemesh up) to the tunnel or the failure shunt, by result (encrypted, clear, drop).",
			Buckets: latencyBuckets,
		}, []string{"result"}),
		phase: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oemesh_negotiation_phase_duration_seconds",
			Help:    "Time of the phases of negotiations: dns (a key look-up), ike (a negotiation's IKE initiations together), install (one SA pair into the data plane).",
			Buckets: latencyBuckets,
		}, []string{"phase"}),
		dns: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "oemesh_dns_lookup_duration_seconds",
			Help:    "Time of DNS key look-ups (cache hits included), by result (found, no-key, failure).",
			Buckets: latencyBuckets,
		}, []string{"result"}),
	}
}

// collectors are what the registry serves.
func (l *latency) collectors() []prometheus.Collector {
	return []prometheus.Collector{l.negotiation, l.phase, l.dns}
}

// outcome is oe.Config.OnOutcome.
func (l *latency) outcome(out oe.Outcome) {
	l.negotiation.WithLabelValues(out.Result.String()).Observe(out.Duration.Seconds())
	if out.IKE > 0 {
		l.phase.WithLabelValues("ike").Observe(out.IKE.Seconds())
	}
}

// installed is the metered data plane's report of one InstallSA.
func (l *latency) installed(seconds float64, err error) {
	if err == nil {
		l.phase.WithLabelValues("install").Observe(seconds)
	}
}

// keys times the look-ups of ks.
func (l *latency) keys(ks oe.KeySource) oe.KeySource { return timedKeys{ks, l} }

// timedKeys is a key source whose look-ups are timed.
type timedKeys struct {
	oe.KeySource
	l *latency
}

// Lookup implements oe.KeySource.
func (t timedKeys) Lookup(ctx context.Context, id dnskey.ID) (dnskey.Result, error) {
	start := t.l.clock.Now()
	res, err := t.KeySource.Lookup(ctx, id)
	s := t.l.clock.Now().Sub(start).Seconds()
	result := "found"
	switch {
	case errors.Is(err, dnskey.ErrNoKey):
		result = "no-key"
	case err != nil:
		result = "failure"
	}
	t.l.dns.WithLabelValues(result).Observe(s)
	t.l.phase.WithLabelValues("dns").Observe(s)
	return res, err
}
