package logtest

import (
	"bytes"
	"strings"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent writers and readers. The
// zero value is ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; it never fails.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count is the number of non-overlapping occurrences of sub written so far.
func (b *Buffer) Count(sub string) int {
	return strings.Count(b.String(), sub)
}

// Lines is the number of slog text lines at level (INFO, DEBUG, ...) with
// message msg written so far.
func (b *Buffer) Lines(level, msg string) int {
	return b.Count("level=" + level + " msg=\"" + msg + "\"")
}
