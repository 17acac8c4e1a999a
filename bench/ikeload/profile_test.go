package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/control"
)

// The profiles of oemeshd during a cell's measured handshakes.
var (
	scaleProfile     = flag.String("scale.profile", "", "write oemeshd's CPU and mutex profiles over each cell's measured handshakes to this directory")
	scaleProfileSecs = flag.Int("scale.profile.seconds", 5, "length of each profile, from the start of the measured handshakes")
)

// startProfiles starts a CPU and a mutex profile of the oemeshd behind
// control socket sock, each over the next -scale.profile.seconds, and
// returns a function that waits for them and writes them to
// -scale.profile as NAME-cpu.pprof and NAME-mutex.pprof, then the heap
// profile as NAME-heap.pprof (its alloc_objects and alloc_space count
// every allocation since oemeshd started, warm-up included). Without
// -scale.profile, or for a responder without a control socket, it does
// nothing.
func startProfiles(b *testing.B, sock, name string) (wait func()) {
	if *scaleProfile == "" || sock == "" {
		return func() {}
	}
	if err := os.MkdirAll(*scaleProfile, 0o755); err != nil {
		b.Fatalf("-scale.profile: %v", err)
	}
	kinds := []string{"cpu", "mutex"}
	errs := make(chan error, len(kinds))
	for _, kind := range kinds {
		go func() {
			secs := *scaleProfileSecs
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(secs)*time.Second+30*time.Second)
			defer cancel()
			var buf bytes.Buffer
			c := control.NewClient(sock).WithTimeout(time.Duration(secs)*time.Second + 30*time.Second)
			if err := c.Fetch(ctx, "/v1/debug/profile/"+kind+"?seconds="+strconv.Itoa(secs), &buf); err != nil {
				errs <- fmt.Errorf("oemeshd %s profile: %w", kind, err)
				return
			}
			errs <- os.WriteFile(filepath.Join(*scaleProfile, name+"-"+kind+".pprof"), buf.Bytes(), 0o644)
		}()
	}
	return func() {
		for range kinds {
			if err := <-errs; err != nil {
				b.Errorf("-scale.profile: %v", err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var buf bytes.Buffer
		if err := control.NewClient(sock).Fetch(ctx, "/v1/debug/heap", &buf); err != nil {
			b.Errorf("-scale.profile: oemeshd heap profile: %v", err)
			return
		}
		if err := os.WriteFile(filepath.Join(*scaleProfile, name+"-heap.pprof"), buf.Bytes(), 0o644); err != nil {
			b.Errorf("-scale.profile: %v", err)
		}
	}
}
