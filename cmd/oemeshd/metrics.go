package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
		emit := func(t prometheus.ValueType, name, help string, v float64, labels ...string) {
			var names, values []string
			for i := 0; i+1 < len(labels); i += 2 {
				names, values = append(names, labels[i]), append(values, labels[i+1])
			}
			ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help, names, nil), t, v, values...)
		}
		gauge := func(name, help string, v float64, labels ...string) {
			emit(prometheus.GaugeValue, name, help, v, labels...)
		}
		counter := func(name, help string, v float64, labels ...string) {
			emit(prometheus.CounterValue, name, help, v, labels...)
		}
		if d.oe == nil {
			return
		}
		tunnels := d.oe.Tunnels(context.Background())
		var in, out float64
		for _, t := range tunnels {
			in += float64(t.InBytes)
			out += float64(t.OutBytes)
		}
		gauge("oemesh_sas", "Installed CHILD SA pairs.", float64(len(tunnels)))
		gauge("oemesh_shunts", "Shunts in force.", float64(len(d.oe.Shunts())))
		counter("oemesh_bytes_total", "ESP payload bytes through installed SAs.", in, "direction", "in")
		counter("oemesh_bytes_total", "ESP payload bytes through installed SAs.", out, "direction", "out")
		s := d.stats()
		counter("oemesh_acquires_total", "Flows that hit a trap.", float64(s.Acquires))
		counter("oemesh_handshakes_total", "OE negotiations that ended encrypted.", float64(s.Handshakes))
		counter("oemesh_dns_lookups_total", "DNS key look-ups.", float64(s.DNSLookups))
		counter("oemesh_shunts_total", "Shunts set.", float64(s.Shunts))
		counter("oemesh_refused_total", "Peers refused as responder.", float64(s.Refused))
		for reason, n := range s.Failures {
			counter("oemesh_failures_total", "Failed OE negotiations by reason.", float64(n), "reason", reason)
		}
	})
}

type collectorFunc func(chan<- prometheus.Metric)

func (f collectorFunc) Describe(chan<- *prometheus.Desc)    {} // unchecked collector
func (f collectorFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }
