package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/oemesh/oemesh/internal/control"
)

// profileServer serves only the profile handlers on a socket in a
// temporary directory.
func profileServer(t *testing.T) *control.Client {
	t.Helper()
	d := &daemon{ctl: control.NewServer(slog.New(slog.DiscardHandler))}
	d.registerProfileHandlers()
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	if err := d.ctl.Listen(sock); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.ctl.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return control.NewClient(sock)
}

// TestProfileMutexFractionRestored: mutex sampling is on only while a
// mutex profile is being taken, then back to what it was.
func TestProfileMutexFractionRestored(t *testing.T) {
	c := profileServer(t)
	before := runtime.SetMutexProfileFraction(-1)
	errc := make(chan error, 1)
	var buf bytes.Buffer
	go func() { errc <- c.Fetch(context.Background(), "/v1/debug/profile/mutex?seconds=1", &buf) }()

	deadline := time.Now().Add(900 * time.Millisecond)
	for runtime.SetMutexProfileFraction(-1) != mutexProfileFraction && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != mutexProfileFraction {
		t.Errorf("mutex fraction while profiling = %d, want %d", got, mutexProfileFraction)
	}
	// A second mutex profile meanwhile is refused, not queued.
	err := c.Fetch(context.Background(), "/v1/debug/profile/mutex?seconds=1", io.Discard)
	var se *control.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusConflict || !strings.Contains(err.Error(), "already being taken") {
		t.Errorf("a second mutex profile: %v, want 409", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if b := buf.Bytes(); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("mutex profile is not a gzipped pprof profile: %d bytes", len(b))
	}
	if got := runtime.SetMutexProfileFraction(-1); got != before {
		t.Errorf("mutex fraction after = %d, want %d as before", got, before)
	}
}

// TestProfileSecondsChecked: ?seconds= is a whole number from 1 to 300,
// refused with the daemon's message otherwise.
func TestProfileSecondsChecked(t *testing.T) {
	c := profileServer(t)
	for _, q := range []string{"0", "301", "x", "1.5", "-1"} {
		for _, kind := range []string{"cpu", "mutex", "block"} {
			err := c.Fetch(context.Background(), "/v1/debug/profile/"+kind+"?seconds="+q, io.Discard)
			var se *control.StatusError
			if !errors.As(err, &se) || se.Code != http.StatusBadRequest || !strings.Contains(err.Error(), "want a whole number of seconds from 1 to 300") {
				t.Errorf("%s seconds=%s: %v", kind, q, err)
			}
		}
	}
}

// TestMetricsServesNoProfiles: net/http/pprof, which the profile handlers
// use, registers /debug/pprof/ on http.DefaultServeMux as it loads. The
// metrics listener, the daemon's only one on the network, has a mux of its
// own: profiles stay behind the root-only control socket.
func TestMetricsServesNoProfiles(t *testing.T) {
	srv := httptest.NewServer(metricsHandler(prometheus.NewRegistry()))
	defer srv.Close()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/profile?seconds=1", "/debug/pprof/heap"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("metrics listener: GET %s = %s, want 404", path, resp.Status)
		}
	}
}
