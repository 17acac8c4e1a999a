package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oemesh/oemesh/ike"
)

// Failure reasons, the keys of report.Failures besides "notify_<TYPE>".
const (
	failTimeout    = "timeout"     // no answer in time (the engine gave up, or -timeout passed)
	failAuth       = "auth"        // the responder's AUTH did not verify, or it refused ours
	failNoProposal = "no_proposal" // the responder chose nothing we offered
	failRekey      = "rekey"       // up, but a CHILD SA rekey failed
	failDelete     = "delete"      // up, but deleting it failed
	failOther      = "other"
)

// reason classifies a failed handshake for report.Failures.
func reason(err error) string {
	var ne *ike.NotifyError
	var npc *ike.NoProposalChosenError
	switch {
	case errors.As(err, &ne):
		return "notify_" + ne.Type.String()
	case errors.As(err, &npc):
		return failNoProposal
	case errors.Is(err, ike.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return failTimeout
	case errors.Is(err, ike.ErrAuthentication):
		return failAuth
	}
	return failOther
}

// report is what a run measured; its JSON is ikeload's output with -json.
type report struct {
	Target      string  `json:"target"`
	Auth        string  `json:"auth"`
	Kex         string  `json:"kex"`
	Sources     int     `json:"sources"` // distinct source addresses used
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate_target"` // 0: as fast as possible
	Rekeys      int     `json:"rekeys_per_sa"`
	Held        bool    `json:"held"` // SAs kept up until the end
	Started     int     `json:"started"`
	Succeeded   int     `json:"succeeded"`
	Failed      int     `json:"failed"`
	// Failures counts failed handshakes by reason; Examples holds the
	// first error of each reason.
	Failures map[string]int    `json:"failures"`
	Examples map[string]string `json:"failure_examples,omitempty"`
	// Seconds is from the first handshake's start to the last one's end;
	// PerSecond the successful handshakes in it.
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"handshakes_per_second"`
	// Latency of the successful handshakes (IKE_SA_INIT to the CHILD SA,
	// with the rekeys, without the delete), milliseconds.
	P50  float64 `json:"latency_p50_ms"`
	P90  float64 `json:"latency_p90_ms"`
	P99  float64 `json:"latency_p99_ms"`
	Max  float64 `json:"latency_max_ms"`
	Mean float64 `json:"latency_mean_ms"`
}

// recorder collects the outcomes of handshakes from many goroutines.
type recorder struct {
	mu        sync.Mutex
	latencies []time.Duration
	failures  map[string]int
	examples  map[string]string
	started   int
}

func newRecorder() *recorder {
	return &recorder{failures: map[string]int{}, examples: map[string]string{}}
}

func (r *recorder) start() {
	r.mu.Lock()
	r.started++
	r.mu.Unlock()
}

func (r *recorder) ok(d time.Duration) {
	r.mu.Lock()
	r.latencies = append(r.latencies, d)
	r.mu.Unlock()
}

func (r *recorder) fail(why string, err error) {
	r.mu.Lock()
	r.failures[why]++
	if _, ok := r.examples[why]; !ok {
		r.examples[why] = err.Error()
	}
	r.mu.Unlock()
}

// fill writes the counts and percentiles into rep; took is the run's
// wall time.
func (r *recorder) fill(rep *report, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep.Started, rep.Succeeded = r.started, len(r.latencies)
	rep.Failures, rep.Examples = map[string]int{}, map[string]string{}
	for k, v := range r.failures {
		rep.Failures[k] = v
		rep.Failed += v
		rep.Examples[k] = r.examples[k]
	}
	rep.Seconds = took.Seconds()
	if took > 0 {
		rep.PerSecond = float64(rep.Succeeded) / took.Seconds()
	}
	lat := slices.Clone(r.latencies)
	slices.Sort(lat)
	rep.P50, rep.P90, rep.P99 = ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99))
	if len(lat) > 0 {
		rep.Max = ms(lat[len(lat)-1])
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		rep.Mean = ms(sum / time.Duration(len(lat)))
	}
}

// percentile is the nearest-rank p-th percentile of sorted: the smallest
// value with at least p% of the values at or below it. 0 when empty.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100 + 0.9999999)
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// line is the report as one line for people.
func (rep *report) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ikeload: %s %s → %s: %d/%d handshakes in %.2f s, %.0f/s, latency p50 %.2f ms p99 %.2f ms",
		rep.Auth, rep.Kex, rep.Target, rep.Succeeded, rep.Started, rep.Seconds, rep.PerSecond, rep.P50, rep.P99)
	if rep.Failed > 0 {
		keys := make([]string, 0, len(rep.Failures))
		for k := range rep.Failures {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, rep.Failures[k]))
		}
		fmt.Fprintf(&b, "; %d failed (%s)", rep.Failed, strings.Join(parts, ", "))
	}
	return b.String()
}

func (rep *report) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
