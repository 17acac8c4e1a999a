package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"

	"github.com/oemesh/oemesh/internal/control"
)

// registerMemoryHandlers adds GET /v1/memory (the runtime's and the
// kernel's view of the daemon's memory) and GET /v1/debug/heap (a pprof
// heap profile), both with ?gc=1 to collect garbage first.
//
// A collection is run twice: what only a sync.Pool still holds (encoder
// buffers of earlier requests) survives the first one.
func (d *daemon) registerMemoryHandlers() {
	d.ctl.Handle("GET /v1/memory", func(r *http.Request) (any, error) {
		gc, err := d.collectIfAsked(r)
		if err != nil {
			return nil, err
		}
		m, err := readMemory()
		m.Collected = gc
		return m, err
	})
	d.ctl.HandleRaw("GET /v1/debug/heap", func(w http.ResponseWriter, r *http.Request) {
		if _, err := d.collectIfAsked(r); err != nil {
			d.ctl.WriteError(w, r, err)
			return
		}
		var buf bytes.Buffer
		if err := pprof.Lookup("heap").WriteTo(&buf, 0); err != nil {
			d.ctl.WriteError(w, r, fmt.Errorf("heap profile: %w", err))
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(buf.Bytes())
	})
}

// idleTrimmer is a data plane that keeps spare buffers between bursts
// and can give them back on demand (the userspace data plane's TUN
// reader batches).
type idleTrimmer interface{ TrimIdle() int }

// collectIfAsked collects garbage (twice, see above) when the request
// says gc=1, and reports whether it did. The data plane's spare buffers
// go back to their pool first, as its timer does every few seconds, so
// that the figure does not depend on when the timer last ran.
func (d *daemon) collectIfAsked(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("gc"); v {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		if t, ok := d.dp.(idleTrimmer); ok {
			t.TrimIdle()
		}
		runtime.GC()
		runtime.GC()
		return true, nil
	default:
		return false, control.BadRequest("gc=%q: want 1 or 0", v)
	}
}

var memorySamples = []string{
	"/gc/heap/live:bytes",
	"/gc/heap/objects:objects",
	"/gc/heap/goal:bytes",
	"/memory/classes/total:bytes",
	"/gc/cycles/total:gc-cycles",
	"/sched/goroutines:goroutines",
}

func readMemory() (control.Memory, error) {
	s := make([]metrics.Sample, len(memorySamples))
	for i, name := range memorySamples {
		s[i].Name = name
	}
	metrics.Read(s)
	u := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	m := control.Memory{HeapLive: u(0), HeapObjects: u(1), HeapGoal: u(2), Mapped: u(3), GCCycles: u(4), Goroutines: u(5)}
	var err error
	m.RSS, m.RSSAnon, err = procRSS("/proc/self/status")
	return m, err
}

// procRSS reads VmRSS and RssAnon (kB) from a /proc/PID/status file.
func procRSS(path string) (rss, anon uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, fmt.Errorf("reading resident memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "RssAnon") {
			continue
		}
		n, perr := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if perr != nil {
			return 0, 0, fmt.Errorf("%s: %s: %q is not a size in kB", path, k, strings.TrimSpace(v))
		}
		if k == "VmRSS" {
			rss = n * 1024
		} else {
			anon = n * 1024
		}
	}
	return rss, anon, sc.Err()
}
