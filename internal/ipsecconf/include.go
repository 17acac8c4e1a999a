package ipsecconf

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// `include PATTERN` in ipsec.conf and ipsec.secrets: the pattern is a
// shell glob (Debian's default /etc/ipsec.conf ends with `include
// /etc/ipsec.d/*.conf`), relative to the directory of the file that holds
// the line when it is not absolute. The matching files are read in
// lexical order, as if written where the include line is. A file that
// includes itself, directly or through others, is an error naming the
// line and the chain; a pattern that matches nothing is left in
// File.Includes, and Convert lists it as not carried over.

// maxIncludeDepth bounds nesting, so that a pathological tree of distinct
// files cannot recurse without end.
const maxIncludeDepth = 16

// Load reads the ipsec.conf at path and every file it includes.
func Load(path string) (*File, error) {
	return loadConf(path, nil)
}

func loadConf(path string, chain []string) (*File, error) {
	f, err := parseFile(path)
	if err != nil {
		return nil, err
	}
	chain = append(slices.Clone(chain), absPath(path))
	out := &File{Name: f.Name, Version: f.Version}
	next := 0 // the next section of f to copy
	for i, inc := range f.Includes {
		for ; next < f.includeAt[i]; next++ {
			out.Sections = append(out.Sections, f.Sections[next])
		}
		files, err := includedFiles(inc, chain)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			out.Includes = append(out.Includes, inc)
			continue
		}
		for _, name := range files {
			sub, err := loadConf(name, chain)
			if err != nil {
				return nil, err
			}
			if out.Version == "" {
				out.Version = sub.Version
			}
			out.Sections = append(out.Sections, sub.Sections...)
			out.Includes = append(out.Includes, sub.Includes...)
		}
	}
	out.Sections = append(out.Sections, f.Sections[next:]...)
	// A conn defined in two files is as wrong as one defined twice in
	// one.
	seen := map[string]*Section{}
	for _, s := range out.Sections {
		if s.Kind != "conn" {
			continue
		}
		if first, dup := seen[s.Name]; dup {
			return nil, fmt.Errorf("%s:%d: conn %s is defined twice (first at %s:%d)", s.File, s.Line, s.Name, first.File, first.Line)
		}
		seen[s.Name] = s
	}
	return out, nil
}

func parseFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return Parse(fh, path)
}

// includedFiles expands an include line's pattern, refusing a file that
// is already being read (a cycle) and nesting deeper than
// maxIncludeDepth.
func includedFiles(inc Setting, chain []string) ([]string, error) {
	pattern := inc.Value
	if !filepath.IsAbs(pattern) {
		pattern = filepath.Join(filepath.Dir(inc.File), pattern)
	}
	files, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: include %s: %w", inc.File, inc.Line, inc.Value, err)
	}
	slices.Sort(files)
	var out []string
	for _, name := range files {
		if st, err := os.Stat(name); err == nil && st.IsDir() {
			continue
		}
		abs := absPath(name)
		if i := slices.Index(chain, abs); i >= 0 {
			return nil, fmt.Errorf("%s:%d: include %s: %s includes itself (%s → %s)", inc.File, inc.Line, inc.Value, name, strings.Join(chain[i:], " → "), abs)
		}
		if len(chain) >= maxIncludeDepth {
			return nil, fmt.Errorf("%s:%d: include %s: includes nest deeper than %d files", inc.File, inc.Line, inc.Value, maxIncludeDepth)
		}
		out = append(out, name)
	}
	return out, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return filepath.Clean(a)
	}
	return filepath.Clean(p)
}
