package manpage

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/oemesh/oemesh/internal/config"
)

func TestLatestRelease(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"unreleased first", "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2027-01-02\n\n## [0.1.0] - 2026-12-06\n", "0.2.0 2027-01-02"},
		{"pre-release", "## [1.0.0-rc.1] - 2027-03-04\n", "1.0.0-rc.1 2027-03-04"},
		{"none", "# Changelog\n\n## [Unreleased]\n", ""},
		{"bad date", "## [0.1.0] - 2026-13-40\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "CHANGELOG.md")
			os.WriteFile(f, []byte(tc.text), 0o644)
			rel, err := LatestRelease(f)
			if tc.want == "" {
				if err == nil {
					t.Errorf("LatestRelease = %+v, want an error", rel)
				}
				return
			}
			if got := rel.Version + " " + rel.Date.Format(time.DateOnly); err != nil || got != tc.want {
				t.Errorf("LatestRelease = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

var rel = Release{Version: "1.2.3", Date: time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)}

func TestConfigPage(t *testing.T) {
	var b bytes.Buffer
	if err := Config(&b, config.Reference(), rel); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if !strings.HasPrefix(page, ".nh\n"+`.TH "OEMESH.YAML" "5" "Dec 2026" "oemesh 1.2.3" "oemesh Manual"`) {
		t.Errorf("the page does not start with its .TH line:\n%.200s", page)
	}
	for _, k := range config.Reference() {
		for _, want := range []string{k.Name, k.Env, k.Flag, k.Default} {
			if !strings.Contains(page, want) {
				t.Errorf("the page lacks %s (of %s)", want, k.Name)
			}
		}
	}
	for _, want := range []string{".SH NAME", ".SH DESCRIPTION", ".SH DNS: KEYS", ".SH FILES", ".SH SEE ALSO"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}

func TestCommandsPages(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, "tool-gone.8")
	other := filepath.Join(dir, "other.8")
	os.WriteFile(stale, []byte("old"), 0o644)
	os.WriteFile(other, []byte("not ours"), 0o644)
	root := &cobra.Command{Use: "tool", Short: "A tool"}
	root.AddCommand(&cobra.Command{Use: "status", Short: "Show the status", Run: func(*cobra.Command, []string) {}},
		&cobra.Command{Use: "secret", Hidden: true, Run: func(*cobra.Command, []string) {}})
	if err := Commands(root, "8", rel, dir); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]bool{"tool.8": true, "tool-status.8": true, "tool-secret.8": false, "tool-gone.8": false, "other.8": true} {
		if _, err := os.Stat(filepath.Join(dir, f)); (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", f, err == nil, want)
		}
	}
	page, _ := os.ReadFile(filepath.Join(dir, "tool-status.8"))
	if !strings.Contains(string(page), `.TH "TOOL-STATUS" "8" "Dec 2026" "oemesh 1.2.3" "oemesh Manual"`) {
		t.Errorf("tool-status.8 header:\n%.300s", page)
	}
}
