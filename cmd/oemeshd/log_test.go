package main

import (
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newLogger picks the journal only when stderr is the journal's stream,
// and falls back to "<N>" lines on stderr when journald does not answer.
func TestNewLoggerJournal(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "oemesh.yaml")
	if err := os.WriteFile(file, []byte("log:\n  level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := mustLoad(t, loadOpts(file))
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(stderr.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	stream := strconv.FormatUint(st.Dev, 10) + ":" + strconv.FormatUint(st.Ino, 10)
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "JOURNAL_STREAM" {
				return v
			}
			return ""
		}
	}
	sock := filepath.Join(dir, "journal")
	jc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer jc.Close()
	readStderr := func() string {
		b, err := os.ReadFile(stderr.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	// stderr is the journal: entries on the socket, with fields.
	level := new(slog.LevelVar)
	log := newLogger(cfg, level, stderr, env(stream), sock)
	if level.Level() != slog.LevelWarn {
		t.Errorf("level = %v, want the configuration's warn", level.Level())
	}
	log.Error("negotiation failed", "peer", "192.0.2.7")
	buf := make([]byte, 4096)
	jc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := jc.Read(buf)
	if err != nil {
		t.Fatalf("nothing on the journal socket: %v", err)
	}
	if e := string(buf[:n]); !strings.Contains(e, "\nPEER=192.0.2.7\n") || !strings.Contains(e, "\nPRIORITY=3\n") {
		t.Errorf("journal entry %q lacks PEER= or PRIORITY=3", e)
	}

	// The journal's socket is gone: "<N>" lines on stderr.
	newLogger(cfg, level, stderr, env(stream), filepath.Join(dir, "none")).Error("failed", "peer", "192.0.2.8")
	if out := readStderr(); !strings.Contains(out, "<4>logging to stderr with priorities") || !strings.Contains(out, "<3>failed peer=192.0.2.8\n") {
		t.Errorf("stderr without journald = %q", out)
	}

	// JOURNAL_STREAM names another stream (inherited, stderr redirected):
	// plain text with time and level.
	stderr.Truncate(0)
	stderr.Seek(0, 0)
	newLogger(cfg, level, stderr, env(stream+"0"), sock).Error("failed", "peer", "192.0.2.9")
	if out := readStderr(); !strings.Contains(out, "time=") || !strings.Contains(out, "level=ERROR") {
		t.Errorf("stderr not the journal = %q: want slog's text form", out)
	}
}
