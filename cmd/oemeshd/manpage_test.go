package main

import (
	"testing"

	"github.com/oemesh/oemesh/internal/manpage"
)

// TestManPagesCurrent: dist/man holds what `go generate` writes from the
// command and the configuration schema today, so a new key or changed help
// cannot ship a stale oemeshd(8) or oemesh.yaml(5).
func TestManPagesCurrent(t *testing.T) {
	diffs, err := manpage.Stale("../../dist/man", []string{"oemeshd.8", "oemesh.yaml.5"}, func(dir string) error {
		root := newRootCmd()
		root.SetArgs([]string{"--gen-man", dir, "--gen-man-changelog", "../../CHANGELOG.md"})
		return root.Execute()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}
