package main

import (
	"testing"

	"github.com/oemesh/oemesh/internal/manpage"
)

// TestManPagesCurrent: dist/man holds what `go generate` writes from the
// commands today, so a changed flag or help text cannot ship a stale page.
func TestManPagesCurrent(t *testing.T) {
	diffs, err := manpage.Stale("../../dist/man", []string{"oemesh.8", "oemesh-*.8"}, func(dir string) error {
		root := newRootCmd()
		root.SetArgs([]string{"gen-man", "--changelog", "../../CHANGELOG.md", dir})
		return root.Execute()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}
