package logtest

import (
	"log/slog"
	"sync"
	"testing"
)

// TestBufferConcurrentWriters: lines from many goroutines all arrive
// whole, and Lines counts them by level and message (run with -race).
func TestBufferConcurrentWriters(t *testing.T) {
	var b Buffer
	log := slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				log.Info("conn down", "n", i)
				log.Debug("conn up")
				_ = b.String()
			}
		}()
	}
	wg.Wait()
	if n := b.Lines("INFO", "conn down"); n != 400 {
		t.Errorf("INFO conn down lines = %d, want 400", n)
	}
	if n := b.Lines("DEBUG", "conn up"); n != 400 {
		t.Errorf("DEBUG conn up lines = %d, want 400", n)
	}
	if n := b.Lines("INFO", "conn up"); n != 0 {
		t.Errorf("INFO conn up lines = %d, want 0", n)
	}
	if n := b.Count("\n"); n != 800 {
		t.Errorf("%d lines, want 800", n)
	}
}
