package manpage

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Stale compares the pages that generate writes into a fresh directory
// with those in dir whose names match one of the globs, and describes each
// difference: a page that differs, is missing, or is left over. Empty: the
// pages in dir are current. The programs' tests call it.
func Stale(dir string, globs []string, generate func(dir string) error) ([]string, error) {
	fresh, err := os.MkdirTemp("", "oemesh-man-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(fresh)
	if err := generate(fresh); err != nil {
		return nil, err
	}
	list := func(d string) (map[string][]byte, error) {
		out := map[string][]byte{}
		for _, g := range globs {
			names, err := filepath.Glob(filepath.Join(d, g))
			if err != nil {
				return nil, err
			}
			for _, n := range names {
				b, err := os.ReadFile(n)
				if err != nil {
					return nil, err
				}
				out[filepath.Base(n)] = b
			}
		}
		return out, nil
	}
	want, err := list(fresh)
	if err != nil {
		return nil, err
	}
	have, err := list(dir)
	if err != nil {
		return nil, err
	}
	var diffs []string
	for name, b := range want {
		switch old, ok := have[name]; {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s is missing", name))
		case !bytes.Equal(old, b):
			diffs = append(diffs, fmt.Sprintf("%s differs", name))
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s is no longer generated", name))
		}
	}
	if len(diffs) > 0 {
		diffs = append(diffs, "run `make generate` (go generate ./...) and commit dist/man: "+strings.Join(globs, " "))
	}
	return diffs, nil
}
