package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// TestMetricsNeverDecrease: a's metrics, scraped across tunnel churn
// (traffic, oemesh down, a new tunnel, its idle delete), never show a
// counter (or a histogram's count, sum or bucket) lower than before: the
// bytes and packets of the deleted SAs stay counted. Each scrape passes
// promtool check metrics, and every metric the shipped Grafana dashboard
// plots is there.
func TestMetricsNeverDecrease(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 120*time.Second)
	a, b := m.Hosts["a"], m.Hosts["b"]
	const metricsAddr = "127.0.0.1:9642"
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, Extra: "oe:\n  null_auth: \"off\"\n  idle_timeout: 3s\nmetrics:\n  listen: \"" + metricsAddr + "\"\n"})

	var scrapes []map[string]float64
	var last string
	scrape := func(when string) map[string]float64 {
		t.Helper()
		last = scrapeIn(t, a.Node, metricsAddr)
		promtoolCheck(t, when, last)
		s := monotonicSamples(last)
		for i, prev := range scrapes {
			for series, v := range prev {
				if now, ok := s[series]; !ok || now < v {
					t.Errorf("%s: %s is %v (present %v), was %v at scrape %d", when, series, now, ok, v, i+1)
				}
			}
		}
		scrapes = append(scrapes, s)
		return s
	}
	bytesOut := func(s map[string]float64) float64 { return s[`oemesh_bytes_total{direction="out"}`] }
	down := func() {
		t.Helper()
		if out, err := m.CLI(ctx, "a", "down", b.Addr4.String()); err != nil {
			t.Fatalf("oemesh down: %v\n%s", err, out)
		}
	}
	ping := func() {
		t.Helper()
		if r := m.Ping(ctx, "a", b.Addr4, 5, 100*time.Millisecond); r.Received == 0 {
			t.Fatalf("ping a→b: %+v", r)
		}
	}

	ping()
	// d publishes no key: a failed negotiation and its shunt, counted.
	m.Ping(ctx, "a", m.Hosts["d"].Addr4, 2, 200*time.Millisecond)
	s1 := scrape("with a tunnel")
	if bytesOut(s1) == 0 || s1[`oemesh_packets_total{direction="out"}`] == 0 || s1["oemesh_tunnels_up_total"] == 0 {
		t.Errorf("no traffic counted after pings through a tunnel:\n%s", last)
	}
	down()
	s2 := scrape("after oemesh down")
	if bytesOut(s2) < bytesOut(s1) {
		t.Errorf("bytes out went from %v to %v when the tunnel went down", bytesOut(s1), bytesOut(s2))
	}
	ping()
	s3 := scrape("with a new tunnel")
	if bytesOut(s3) <= bytesOut(s2) {
		t.Errorf("bytes out %v with the new tunnel's traffic, %v before it", bytesOut(s3), bytesOut(s2))
	}
	// The new tunnel carries nothing more: oe.idle_timeout deletes it.
	deadline := time.Now().Add(20 * time.Second)
	for scrapes[len(scrapes)-1]["oemesh_idle_deletes_total"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no idle delete within 20s:\n%s", last)
		}
		time.Sleep(500 * time.Millisecond)
		scrape("waiting for the idle delete")
	}
	if ts, _ := traffic(t, m, ctx, "a"); len(ts) != 0 {
		t.Errorf("tunnels left after the idle delete: %+v", ts)
	}
	scrape("after the idle delete")
	if !strings.Contains(last, `oemesh_negotiation_duration_seconds_count{result="encrypted"}`) ||
		!strings.Contains(last, `oemesh_negotiation_phase_duration_seconds_count{phase="install"}`) ||
		!strings.Contains(last, `oemesh_dns_lookup_duration_seconds_count{result="found"}`) ||
		!strings.Contains(last, "go_goroutines ") || !strings.Contains(last, "process_resident_memory_bytes ") {
		t.Errorf("the scrape lacks the histograms or the Go and process collectors:\n%s", last)
	}

	// Every metric the dashboard plots is in the scrape.
	dash, err := os.ReadFile(filepath.Join("..", "..", "dist", "grafana", "oemesh.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range dashboardMetrics(t, dash) {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `[{ ]`).MatchString(last) {
			t.Errorf("the dashboard plots %s, which a's scrape lacks", name)
		}
	}
}

// sampleRE is a sample line: the series (name and labels) and its value.
var sampleRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)`)

// monotonicSamples are the samples of an exposition's counters and
// histograms (whose _count, _sum and _bucket only grow), by series.
func monotonicSamples(exposition string) map[string]float64 {
	kinds := map[string]string{}
	out := map[string]float64{}
	for _, line := range strings.Split(exposition, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			kinds[f[2]] = f[3]
			continue
		}
		m := sampleRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		name, _, _ := strings.Cut(m[1], "{")
		family := name
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if k := kinds[strings.TrimSuffix(name, suffix)]; k == "histogram" {
				family = strings.TrimSuffix(name, suffix)
			}
		}
		if k := kinds[family]; k != "counter" && k != "histogram" {
			continue
		}
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			out[m[1]] = v
		}
	}
	return out
}

// dashboardMetrics are the metric names the dashboard's queries use.
func dashboardMetrics(t *testing.T, dash []byte) []string {
	t.Helper()
	var d struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dash, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	seen := map[string]bool{}
	var names []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, n := range regexp.MustCompile(`\b(?:oemesh|go|process)_[a-z0-9_]+`).FindAllString(tg.Expr, -1) {
				if !seen[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("the dashboard names no metric")
	}
	return names
}

// promtoolCheck runs promtool check metrics on a scrape. promtool comes
// with Debian's prometheus package (scripts/apt-packages.txt).
func promtoolCheck(t *testing.T, when, exposition string) {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the prometheus package (make deps)")
	}
	cmd := exec.CommandContext(context.Background(), p, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("%s: promtool check metrics: %v\n%s", when, err, out)
	}
}
