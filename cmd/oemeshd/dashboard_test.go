package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGrafanaDashboard: the dashboard shipped in dist/grafana parses, each
// panel queries something, and every oemesh_* metric it names is one
// oemeshd makes (a histogram's by its _bucket series). internal/e2e's
// TestMetricsNeverDecrease checks the names against a live scrape too.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "dist", "grafana", "oemesh.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Title  string `json:"title"`
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dist/grafana/oemesh.json: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("dashboard without title, uid or panels: %+v", d)
	}
	// The metric names oemeshd makes, as they appear in its source.
	var source strings.Builder
	files, _ := filepath.Glob("metrics*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		source.Write(b)
	}
	names := regexp.MustCompile(`\boemesh_[a-z0-9_]+`)
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, tg := range p.Targets {
			for _, n := range names.FindAllString(tg.Expr, -1) {
				base := strings.TrimSuffix(n, "_bucket")
				if !strings.Contains(source.String(), `"`+base+`"`) {
					t.Errorf("panel %q: %s is no metric oemeshd makes", p.Title, n)
				}
			}
		}
	}
}
