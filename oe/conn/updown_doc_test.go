package conn

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestUpdownEnvironmentDocumented keeps docs/updown.md, the operator's
// reference for updown scripts, in step with the variables updownEnv
// sets: each one has a row in its table, and the table names no variable
// the code does not set.
func TestUpdownEnvironmentDocumented(t *testing.T) {
	src, err := os.ReadFile("updown.go")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/updown.md")
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, m := range regexp.MustCompile(`"(PLUTO_[A-Z_]+|PATH)=`).FindAllStringSubmatch(string(src), -1) {
		set[m[1]] = true
	}
	if len(set) < 20 {
		t.Fatalf("found only %d variables in updown.go: %v", len(set), set)
	}
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|").FindAllStringSubmatch(string(doc), -1) {
		rows[m[1]] = true
	}
	for v := range set {
		if !rows[v] {
			t.Errorf("docs/updown.md has no row for %s, which updownEnv sets", v)
		}
	}
	for v := range rows {
		if !set[v] && strings.HasPrefix(v, "PLUTO_") {
			t.Errorf("docs/updown.md documents %s, which updownEnv does not set", v)
		}
	}
}
