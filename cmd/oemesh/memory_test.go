package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/internal/control"
)

func TestMemory(t *testing.T) {
	d := startDaemon(t, nil)

	r := d.oemesh(t, "memory", "--gc", "--json")
	var m struct {
		Collected bool   `json:"collected"`
		HeapLive  uint64 `json:"heap_live_bytes"`
		Objects   uint64 `json:"heap_objects"`
		Mapped    uint64 `json:"mapped_bytes"`
		GCs       uint64 `json:"gc_cycles"`
		RSS       uint64 `json:"rss_bytes"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil || r.code != 0 {
		t.Fatalf("memory --gc --json: %v %+v", err, r)
	}
	// A daemon with nothing to do: a live heap of a few MiB at most, a
	// collection made by the request, an RSS read from /proc.
	if !m.Collected || m.GCs == 0 || m.HeapLive < 64<<10 || m.HeapLive > 64<<20 ||
		m.Objects == 0 || m.Mapped < m.HeapLive || m.RSS < m.HeapLive {
		t.Errorf("memory = %+v", m)
	}

	prof := filepath.Join(t.TempDir(), "heap.pb.gz")
	r = d.oemesh(t, "memory", "--gc", "--heap-profile", prof)
	if r.code != 0 || !strings.Contains(r.stdout, "live heap:") || !strings.Contains(r.stdout, "collected first") {
		t.Fatalf("memory --heap-profile: %+v", r)
	}
	data, err := os.ReadFile(prof)
	if err != nil || len(data) < 2 || data[0] != 0x1f || data[1] != 0x8b {
		t.Fatalf("heap profile is not a gzipped pprof profile: %d bytes, %v", len(data), err)
	}

	// A bad parameter is refused with the daemon's message, raw endpoint
	// or not.
	c := control.NewClient(d.socket)
	for _, path := range []string{"/v1/debug/heap?gc=x", "/v1/memory?gc=x"} {
		err := c.Fetch(context.Background(), path, io.Discard)
		var se *control.StatusError
		if !errors.As(err, &se) || se.Code != 400 || !strings.Contains(err.Error(), `gc="x": want 1 or 0`) {
			t.Errorf("GET %s: %v", path, err)
		}
	}

	r = d.oemesh(t, "memory", "--heap-profile", filepath.Join(t.TempDir(), "no", "such", "dir", "p"))
	if r.code == 0 || !strings.Contains(r.stderr, "--heap-profile") {
		t.Errorf("memory into a missing directory: %+v", r)
	}
}

// TestStatusCountsCipherStates: with the userspace data plane, status
// counts the SA directions holding cipher state. (The xfrm data plane
// needs kernel ESP, which this host lacks: internal/interopvm asks its
// daemon's status in the VM.)
func TestStatusCountsCipherStates(t *testing.T) {
	d := startDaemonWith(t, nil, "dataplane: userspace\n")
	r := d.oemesh(t, "status")
	if r.code != 0 || !strings.Contains(r.stdout, "data plane: userspace") || !strings.Contains(r.stdout, "cipher_states=0") {
		t.Fatalf("status: %+v\n%s", r, d.stderr)
	}
}
