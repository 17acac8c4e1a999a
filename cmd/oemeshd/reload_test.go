package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/internal/config"
)

// A reload puts log.level and dns.timeout in force, names the keys that
// wait for a restart, and keeps everything when the file does not load.
func TestReloadConfig(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "oemesh.yaml")
	base := "policies: " + filepath.Join(dir, "policies") + "\nhostkey: " + filepath.Join(dir, "hostkey.pem") +
		"\ndns:\n  servers: [127.0.0.1:53]\n  exempt_servers: false\n"
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(base+s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("  timeout: 2s\nlog:\n  level: info\n")
	opts := loadOpts(file)
	cfg := mustLoad(t, opts)
	var logs bytes.Buffer
	level := new(slog.LevelVar)
	d, err := newDaemon(cfg, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level})))
	if err != nil {
		t.Fatal(err)
	}
	d.level = level
	d.reread = func() (*config.Config, error) { return config.Load(opts) }

	write("  timeout: 7s\nlog:\n  level: debug\nike_port: 5500\n")
	res := d.reload(context.Background())
	if level.Level() != slog.LevelDebug {
		t.Errorf("log level after reload = %v, want debug", level.Level())
	}
	sum := d.live.Load().Summary()
	if sum["dns.timeout"] != "7s" || sum["log.level"] != "DEBUG" {
		t.Errorf("in force after reload: dns.timeout %v, log.level %v; want 7s, DEBUG", sum["dns.timeout"], sum["log.level"])
	}
	if fmt.Sprint(sum["ike_port"]) == "5500" || !slices.Contains(res.restart, "ike_port") {
		t.Errorf("ike_port: in force %v, at restart %v: want it left for a restart and named", sum["ike_port"], res.restart)
	}
	if !slices.Contains(res.applied, "log.level DEBUG") || !slices.Contains(res.applied, "dns") {
		t.Errorf("applied = %v", res.applied)
	}

	write("  timeout: banana\nlog:\n  level: error\n")
	res = d.reload(context.Background())
	if level.Level() != slog.LevelDebug || d.live.Load().Summary()["dns.timeout"] != "7s" {
		t.Errorf("a broken file changed the settings in force: level %v, dns.timeout %v", level.Level(), d.live.Load().Summary()["dns.timeout"])
	}
	if !slices.Contains(res.failed, "configuration") || !strings.Contains(res.status(), "kept the old configuration") {
		t.Errorf("failed = %v, status %q", res.failed, res.status())
	}
	if !strings.Contains(logs.String(), "configuration not reloaded") || !strings.Contains(logs.String(), file+":6)") {
		t.Errorf("the log does not say which file failed, and where (FILE:LINE):\n%s", logs.String())
	}
}

func loadOpts(file string) config.Options { return config.Options{File: file, FileRequired: true} }

func mustLoad(t *testing.T, opts config.Options) *config.Config {
	t.Helper()
	cfg, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
