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
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/version"
	"github.com/oemesh/oemesh/kernel/userspace"
)

// meters are the metrics observed as events happen, beside those the
// collector reads at scrape time.
type meters struct {
	latency *latency          // negotiation and DNS times (metrics_latency.go)
	traffic *meteredDataplane // bytes and packets that never go down (metrics_traffic.go)
}

// serveMetrics exposes Prometheus metrics on addr until ctx ends.
func (d *daemon) serveMetrics(ctx context.Context, addr string) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics.listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: metricsHandler(d.registry()), ReadHeaderTimeout: 5 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("metrics server", "err", err)
		}
	}()
	d.log.Info("metrics served", "addr", ln.Addr().String(), "path", "/metrics")
	return func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(c)
	}, nil
}

// registry holds everything /metrics serves: the daemon's own metrics,
// and the Go runtime's (go_*) and the process's (process_*), as every Go
// exporter has them.
func (d *daemon) registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), d.collector())
	if d.meters.latency != nil {
		reg.MustRegister(d.meters.latency.collectors()...)
	}
	return reg
}

// metricsHandler serves reg at /metrics, and nothing anywhere else: a
// scraper pointed at a wrong path gets a 404 rather than metrics that
// look right.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// collector reads the counters at scrape time, so no state is duplicated.
func (d *daemon) collector() prometheus.Collector {
	return collectorFunc(func(ch chan<- prometheus.Metric) {
		m := metricSink{ch}
		buildInfoMetric(m, version.Get())
		if d.oe == nil {
			return
		}
		ctx := context.Background()
		m.gauge("oemesh_sas", "Installed CHILD SA pairs (tunnels).", float64(len(d.oe.Tunnels(ctx))))
		es := d.oe.Engine().Stats()
		keyExchangeMetrics(m, ikeSAsView(d.oe.Engine().SAs()))
		certFailureMetrics(m, es.CertFailures)
		ikeMetrics(m, es)
		defenceMetrics(m, d.defencesView(es))
		m.gauge("oemesh_shunts", "Shunts in force.", float64(len(d.oe.Shunts())))
		if d.meters.traffic != nil {
			trafficMetrics(m, d.meters.traffic.Totals(ctx))
		}
		if dev, ok := d.dp.(*userspace.Device); ok {
			// With kernel ESP the kernel holds the cipher states.
			m.gauge("oemesh_cipher_states", "SA directions holding their cipher state (userspace data plane; idle ones let it go, kernel.cipher_idle).",
				float64(dev.Stats().Ciphers))
		}
		s := d.stats()
		m.counter("oemesh_tunnels_up_total", "SA pairs installed (OE's and the conns').", float64(s.TunnelsUp))
		m.counter("oemesh_idle_deletes_total", "OE tunnels deleted for idleness (oe.idle_timeout).", float64(s.IdleDeletes))
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

// trafficMetrics emits the bytes and packets through every SA pair since
// the start, per direction: counters that never go down, whatever
// becomes of the pairs (meteredDataplane).
func trafficMetrics(m metricSink, t trafficTotals) {
	const bytesHelp = "ESP payload bytes through the SAs since oemeshd started, by direction."
	const packetsHelp = "ESP packets through the SAs since oemeshd started, by direction."
	m.counter("oemesh_bytes_total", bytesHelp, float64(t.InBytes), "direction", "in")
	m.counter("oemesh_bytes_total", bytesHelp, float64(t.OutBytes), "direction", "out")
	m.counter("oemesh_packets_total", packetsHelp, float64(t.InPackets), "direction", "in")
	m.counter("oemesh_packets_total", packetsHelp, float64(t.OutPackets), "direction", "out")
}

// ikeMetrics emits the IKE engine's gauges and counters.
func ikeMetrics(m metricSink, s ike.Stats) {
	m.gauge("oemesh_ike_sas_half_open", "IKE SAs not yet established (IKE_SA_INIT done, IKE_AUTH not).", float64(s.HalfOpen))
	m.gauge("oemesh_ike_sas_null", "IKE SAs of peers that authenticated with NULL, as ike.limits.null_sas counts them.", float64(s.NullSAs))
	m.counter("oemesh_ike_null_sas_total", "NULL-authenticated IKE SAs over a limit: the idle one deleted (evicted), or the new one refused.", float64(s.NullEvictions), "event", "evicted")
	m.counter("oemesh_ike_null_sas_total", "NULL-authenticated IKE SAs over a limit: the idle one deleted (evicted), or the new one refused.", float64(s.NullRefusals), "event", "refused")
	m.gauge("oemesh_ike_sas_in_engine", "IKE SAs in the engine, established and half-open.", float64(s.IKESAs))
	m.counter("oemesh_ike_messages_total", "IKE messages by direction.", float64(s.Received), "direction", "in")
	m.counter("oemesh_ike_messages_total", "IKE messages by direction.", float64(s.Sent), "direction", "out")
	m.counter("oemesh_ike_retransmits_total", "IKE requests sent again for want of an answer.", float64(s.Retransmits))
	m.counter("oemesh_ike_sas_established_total", "IKE SAs established.", float64(s.IKEEstablished))
	m.counter("oemesh_ike_sas_deleted_total", "IKE SAs deleted.", float64(s.IKEDeleted))
	for reason, n := range s.Drops {
		m.counter("oemesh_ike_drops_total", "IKE messages dropped unanswered, by reason.", float64(n), "reason", reason.String())
	}
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
