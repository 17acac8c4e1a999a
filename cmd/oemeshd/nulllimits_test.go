package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/config"
)

// ike.limits' 0 lifts a cap; the engine's 0 would mean its default.
func TestNullLimitsFromConfig(t *testing.T) {
	for _, c := range []struct {
		in   config.IKELimits
		want ike.NullLimits
	}{
		{config.IKELimits{NullSAs: 8192, NullSAsPerSource: 32, NullIdle: time.Minute}, ike.NullLimits{Total: 8192, PerSource: 32, MinIdle: time.Minute}},
		{config.IKELimits{NullSAs: 0, NullSAsPerSource: 0, NullIdle: time.Second}, ike.NullLimits{Total: -1, PerSource: -1, MinIdle: time.Second}},
	} {
		if got := nullLimits(c.in); got.Total != c.want.Total || got.PerSource != c.want.PerSource || got.MinIdle != c.want.MinIdle {
			t.Errorf("nullLimits(%+v) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

// The NULL SA figures reach status (defences) and the metrics.
func TestNullSAFiguresShown(t *testing.T) {
	es := ike.Stats{NullSAs: 32, NullEvictions: 5, NullRefusals: 7}
	if v := ikeDefences(es); v.NullSAs != 32 || v.NullEvictions != 5 || v.NullRefusals != 7 {
		t.Errorf("defences: %d NULL SAs, %d evicted, %d refused; want 32, 5, 7", v.NullSAs, v.NullEvictions, v.NullRefusals)
	}
	got := scrape(t, collectorFunc(func(ch chan<- prometheus.Metric) { ikeMetrics(metricSink{ch}, es) }))
	for _, want := range []string{
		`oemesh_ike_sas_null 32`,
		`oemesh_ike_null_sas_total{event="evicted"} 5`,
		`oemesh_ike_null_sas_total{event="refused"} 7`,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("scrape lacks %s:\n%s", want, strings.Join(got, "\n"))
		}
	}
}
