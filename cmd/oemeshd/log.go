package main

import (
	"log/slog"
	"os"

	"github.com/oemesh/oemesh/internal/config"
	"github.com/oemesh/oemesh/internal/systemd"
)

// newLogger builds the daemon's logger on stderr at cfg's level, which
// level holds so that a reload can change it. Under systemd, when stderr is
// the journal (JOURNAL_STREAM), text logs go to journald's native socket:
// each entry with its priority (`journalctl -p err`) and its attributes as
// fields (`journalctl PEER=192.0.2.1`), and without our own timestamp. If
// that socket cannot be reached, the lines go to stderr with the "<N>"
// priority prefix journald reads. log.format json is left as asked.
// journal is journald's socket (systemd.JournalSocket; tests use their own).
func newLogger(cfg *config.Config, level *slog.LevelVar, stderr *os.File, getenv func(string) string, journal string) *slog.Logger {
	level.Set(cfg.Log.Level)
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(stderr, opts))
	}
	if !systemd.IsJournalStream(getenv, stderr) {
		return slog.New(slog.NewTextHandler(stderr, opts))
	}
	h, err := systemd.NewJournalHandler(journal, "oemeshd", stderr, opts)
	if err != nil {
		log := slog.New(systemd.NewPrefixHandler(stderr, opts))
		log.Warn("logging to stderr with priorities: journald's socket does not answer, so entries have no PEER=, SPI= ... fields", "err", err)
		return log
	}
	return slog.New(h)
}
