package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/version"
)

// serveMetrics exposes Prometheus metrics on addr until ctx ends.
func (d *daemon) serveMetrics(ctx context.Context, addr string) (func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(d.collector())
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics server", "err", err)
		}
	}()
	d.log.Info("metrics served", "addr", ln.Addr().String())
	return func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(c)
	}, nil
}

// collector reads the counters at scrape time, so no state is duplicated.
func (d *daemon) collector() prometheus.Collector {
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		m := metricSink{ch}
		buildInfoMetric(m, version.Get())
		if d.oe == nil {
			return
		}
		tunnels := d.oe.Tunnels(context.Background())
		var in, out float64
		for _, t := range tunnels {
			in += float64(t.InBytes)
			out += float64(t.OutBytes)
		}
		m.gauge("oemesh_sas", "Installed CHILD SA pairs.", float64(len(tunnels)))
		keyExchangeMetrics(m, ikeSAsView(d.oe.Engine().SAs()))
		certFailureMetrics(m, d.oe.Engine().Stats().CertFailures)
		m.gauge("oemesh_shunts", "Shunts in force.", float64(len(d.oe.Shunts())))
		m.counter("oemesh_bytes_total", "ESP payload bytes through installed SAs.", in, "direction", "in")
		m.counter("oemesh_bytes_total", "ESP payload bytes through installed SAs.", out, "direction", "out")
		s := d.stats()
		m.counter("oemesh_acquires_total", "Flows that hit a trap.", float64(s.Acquires))
		m.counter("oemesh_handshakes_total", "OE negotiations that ended encrypted.", float64(s.Handshakes))
		m.counter("oemesh_dns_lookups_total", "DNS key look-ups.", float64(s.DNSLookups))
		m.counter("oemesh_key_prefetches_total", "Peers' key look-ups started at their IKE_SA_INIT.", float64(s.Prefetches))
		m.counter("oemesh_shunts_total", "Shunts set.", float64(s.Shunts))
		m.counter("oemesh_refused_total", "Peers refused as responder.", float64(s.Refused))
		for reason, n := range s.Failures {
			m.counter("oemesh_failures_total", "Failed OE negotiations by reason.", float64(n), "reason", reason)
		}
		if d.bindings != nil {
			bs := d.bindings.Stats()
			m.gauge("oemesh_bindings", "Addresses bound to the forward name they were looked up by.", float64(bs.Entries))
			for event, n := range map[string]uint64{"added": bs.Added, "replaced": bs.Replaced, "expired": bs.Expired, "evicted": bs.Evicted} {
				m.counter("oemesh_binding_events_total", "Address → name bindings by what happened to them.", float64(n), "event", event)
			}
			m.counter("oemesh_binding_lookups_total", "OE negotiations that looked for a binding of their target.", float64(bs.Hits), "result", "hit")
			m.counter("oemesh_binding_lookups_total", "OE negotiations that looked for a binding of their target.", float64(bs.Misses), "result", "miss")
			for result, n := range map[string]uint64{"bound": bs.WaitsBound, "timeout": bs.WaitsTimedOut, "cancelled": bs.WaitsCancelled,
				"none": bs.WaitsNone} {
				m.counter("oemesh_binding_pending_waits_total", "OE negotiations that waited for a name look-up under way for their target, by how the wait ended.", float64(n), "result", result)
			}
		}
		if d.stub != nil {
			for name, n := range stubCounts(d.stub.Stats()) {
				m.counter("oemesh_dns_stub_total", "DNS stub events by kind (queries, forwarded, servfail, lookups, lookups_failed, dropped, bindings, bind_failed, prestarts).",
					float64(n), "event", strings.TrimPrefix(name, "dns_stub_"))
			}
		}
	})
}

// buildInfoMetric emits oemesh_build_info: always 1, with the build's
// version, commit, date and Go release as labels (the Prometheus idiom for
// text that a dashboard joins on), the same values `oemeshd --version`
// prints.
func buildInfoMetric(m metricSink, v version.Info) {
	m.gauge("oemesh_build_info", "The oemeshd build running: version, commit, date and Go release as labels; always 1.", 1,
		"version", v.Version, "commit", v.Commit, "date", v.Date, "goversion", v.Go)
}

// maxKeyExchangeLabels bounds the values of oemesh_ike_sas's
// key_exchanges label. The values are the key exchange chains that the
// IKE policies in force accept, a handful in practice; a policy that
// accepts many combinations must not make a series per combination.
const maxKeyExchangeLabels = 8

// keyExchangeMetrics emits the IKE SAs that carry tunnels by their key
// exchanges (the maxKeyExchangeLabels most common chains each by name, the
// rest together as "other") and how many of them are quantum-resistant.
func keyExchangeMetrics(m metricSink, sum control.IKESASummary) {
	const help = "IKE SAs carrying tunnels, by key exchanges (IKE_SA_INIT's method, then each additional key exchange, e.g. x25519+mlkem768)."
	names := slices.Collect(maps.Keys(sum.ByKeyExchanges))
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(sum.ByKeyExchanges[b], sum.ByKeyExchanges[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	other := 0
	for i, name := range names {
		if i >= maxKeyExchangeLabels {
			other += sum.ByKeyExchanges[name]
			continue
		}
		m.gauge("oemesh_ike_sas", help, float64(sum.ByKeyExchanges[name]), "key_exchanges", name)
	}
	if other > 0 {
		m.gauge("oemesh_ike_sas", help, float64(other), "key_exchanges", "other")
	}
	m.gauge("oemesh_ike_sas_quantum_resistant", "IKE SAs carrying tunnels whose key exchanges include ML-KEM.", float64(sum.QuantumResistant))
}

// certFailureMetrics emits the peer certificate chains the engine refused,
// by reason: the certs.Reason names (expired, unknown_ca, id_mismatch...),
// bounded by the engine (ike.Stats.CertFailures).
func certFailureMetrics(m metricSink, failures map[string]uint64) {
	for reason, n := range failures {
		m.counter("oemesh_cert_failures_total", "Peer certificate chains refused, by reason.", float64(n), "reason", reason)
	}
}

// metricSink sends constant metrics, made at scrape time, to a collector's
// channel.
type metricSink struct{ ch chan<- prometheus.Metric }

// emit sends one sample; labels are name, value pairs.
func (m metricSink) emit(t prometheus.ValueType, name, help string, v float64, labels ...string) {
	var names, values []string
	for i := 0; i+1 < len(labels); i += 2 {
		names, values = append(names, labels[i]), append(values, labels[i+1])
	}
	m.ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, names, nil), t, v, values...)
}

func (m metricSink) gauge(name, help string, v float64, labels ...string) {
	m.emit(prometheus.GaugeValue, name, help, v, labels...)
}

func (m metricSink) counter(name, help string, v float64, labels ...string) {
	m.emit(prometheus.CounterValue, name, help, v, labels...)
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {} // unchecked collector
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }
