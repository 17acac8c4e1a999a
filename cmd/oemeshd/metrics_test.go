package main

import (
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/oemesh/oemesh/certs"
	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/version"
)

// scrape serves c as oemeshd does and returns the samples it exposes,
// without the HELP and TYPE lines.
func scrape(t *testing.T, c prometheus.Collector) []string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("scrape: %v %v\n%s", resp.Status, err, body)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// TestKeyExchangeMetrics: a scrape shows the IKE SAs carrying tunnels by
// key exchanges and the quantum-resistant count, from the same summary as
// `oemesh status`.
func TestKeyExchangeMetrics(t *testing.T) {
	child := []ike.ChildSAInfo{{SPIIn: 1}}
	hybrid := ike.KeyExchanges{ike.DHCurve25519, ike.DHMLKEM768}
	sas := []ike.SAInfo{
		{KeyExchanges: hybrid, Children: child},
		{KeyExchanges: hybrid, Children: child},
		{KeyExchanges: ike.KeyExchanges{ike.DHCurve25519}, Children: child},
		{KeyExchanges: hybrid}, // no tunnel
	}
	got := scrape(t, collectorFunc(func(ch chan<- prometheus.Metric) { keyExchangeMetrics(metricSink{ch}, ikeSAsView(sas)) }))
	want := []string{
		`oemesh_ike_sas{key_exchanges="x25519"} 1`,
		`oemesh_ike_sas{key_exchanges="x25519+mlkem768"} 2`,
		`oemesh_ike_sas_quantum_resistant 2`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("scrape:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// No IKE SA: the quantum-resistant count is 0, and no series by key
	// exchanges.
	got = scrape(t, collectorFunc(func(ch chan<- prometheus.Metric) { keyExchangeMetrics(metricSink{ch}, ikeSAsView(nil)) }))
	if strings.Join(got, "\n") != "oemesh_ike_sas_quantum_resistant 0" {
		t.Errorf("scrape without IKE SAs:\n%s", strings.Join(got, "\n"))
	}
}

// TestKeyExchangeMetricsBounded: however many chains the SAs show, the
// label takes at most maxKeyExchangeLabels values and "other": the most
// common chains keep their own series.
func TestKeyExchangeMetricsBounded(t *testing.T) {
	sum := control.IKESASummary{ByKeyExchanges: map[string]int{"x25519+mlkem768": 50, "x25519": 20}}
	for i := range 20 {
		sum.ByKeyExchanges[fmt.Sprintf("rare%02d", i)] = 1
	}
	got := scrape(t, collectorFunc(func(ch chan<- prometheus.Metric) { keyExchangeMetrics(metricSink{ch}, sum) }))
	series, total := 0, 0
	var other, hybrid bool
	for _, l := range got {
		if !strings.HasPrefix(l, "oemesh_ike_sas{") {
			continue
		}
		series++
		var n int
		fmt.Sscan(l[strings.LastIndexByte(l, ' ')+1:], &n)
		total += n
		other = other || strings.Contains(l, `key_exchanges="other"`)
		hybrid = hybrid || l == `oemesh_ike_sas{key_exchanges="x25519+mlkem768"} 50`
	}
	if series != maxKeyExchangeLabels+1 || !other || !hybrid || total != 90 {
		t.Errorf("%d series (want %d), other %v, the hybrid's own %v, total %d (want 90):\n%s",
			series, maxKeyExchangeLabels+1, other, hybrid, total, strings.Join(got, "\n"))
	}
}

// TestCertFailureMetrics: a scrape shows the engine's certificate
// refusals by reason, with the labels certs gives its reasons.
func TestCertFailureMetrics(t *testing.T) {
	failures := map[string]uint64{
		(&certs.VerifyError{Reason: certs.Expired}).MetricLabel():   2,
		(&certs.VerifyError{Reason: certs.UnknownCA}).MetricLabel(): 1,
		ike.CertFailureOther: 3,
	}
	got := scrape(t, collectorFunc(func(ch chan<- prometheus.Metric) { certFailureMetrics(metricSink{ch}, failures) }))
	want := []string{
		`oemesh_cert_failures_total{reason="expired"} 2`,
		`oemesh_cert_failures_total{reason="other"} 3`,
		`oemesh_cert_failures_total{reason="unknown_ca"} 1`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("scrape:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestBuildInfoMetric: oemesh_build_info is 1, labelled with the build's
// version, commit, date and Go release.
func TestBuildInfoMetric(t *testing.T) {
	v := version.Info{Version: "1.2.3", Commit: "0123456789abcdef", Date: "2026-12-06T12:00:00Z", Go: "go1.26.8"}
	got := scrape(t, collectorFunc(func(ch chan<- prometheus.Metric) { buildInfoMetric(metricSink{ch}, v) }))
	want := `oemesh_build_info{commit="0123456789abcdef",date="2026-12-06T12:00:00Z",goversion="go1.26.8",version="1.2.3"} 1`
	if len(got) != 1 || got[0] != want {
		t.Errorf("scrape = %q, want [%q]", got, want)
	}
}
