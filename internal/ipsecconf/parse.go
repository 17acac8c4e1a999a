package ipsecconf

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Setting is one key=value line of a section.
type Setting struct {
	Key, Value string
	// File and Line are where the setting is written (File: the name
	// given to Parse, or the included file it is in).
	File string
	Line int
}

// Section is a `conn NAME` or `config setup` section.
type Section struct {
	Kind     string // "conn" or "config"
	Name     string // the conn name, %default, or "setup"
	File     string
	Line     int
	Settings []Setting
}

// Get returns the last value of key in the section.
func (s *Section) Get(key string) (Setting, bool) {
	for i := len(s.Settings) - 1; i >= 0; i-- {
		if s.Settings[i].Key == key {
			return s.Settings[i], true
		}
	}
	return Setting{}, false
}

// File is a parsed ipsec.conf.
type File struct {
	Name     string
	Version  string // the `version` line, if any
	Sections []*Section
	// Includes lists `include` lines, which Parse does not follow (Load
	// does, and leaves here only those whose pattern matched no file).
	Includes []Setting
	// includeAt is, for each of Includes, how many sections came before
	// it, so that Load puts the included sections where the line is.
	includeAt []int
}

// Conn returns the conn section named name.
func (f *File) Conn(name string) *Section {
	for _, s := range f.Sections {
		if s.Kind == "conn" && s.Name == name {
			return s
		}
	}
	return nil
}

// Parse reads an ipsec.conf. Section headers start at the first column;
// their settings are indented key=value lines; # starts a comment. A value
// may be double-quoted (then it may hold spaces and #).
func Parse(r io.Reader, name string) (*File, error) {
	f := &File{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var cur *Section
	n := 0
	for sc.Scan() {
		n++
		raw := sc.Text()
		line := stripComment(raw)
		if strings.TrimSpace(line) == "" {
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		fields := strings.Fields(line)
		if !indented {
			cur = nil
			switch fields[0] {
			case "version":
				if len(fields) != 2 {
					return nil, fmt.Errorf("%s:%d: version needs one value", name, n)
				}
				f.Version = fields[1]
			case "include":
				if len(fields) != 2 {
					return nil, fmt.Errorf("%s:%d: include needs one file name", name, n)
				}
				f.Includes = append(f.Includes, Setting{Key: "include", Value: fields[1], File: name, Line: n})
				f.includeAt = append(f.includeAt, len(f.Sections))
			case "conn", "config", "ca":
				if len(fields) != 2 {
					return nil, fmt.Errorf("%s:%d: %q needs exactly one name", name, n, fields[0])
				}
				if fields[0] == "config" && fields[1] != "setup" {
					return nil, fmt.Errorf("%s:%d: unknown section \"config %s\" (only config setup exists)", name, n, fields[1])
				}
				if fields[0] == "conn" {
					for _, s := range f.Sections {
						if s.Kind == "conn" && s.Name == fields[1] {
							return nil, fmt.Errorf("%s:%d: conn %s is defined twice (first at line %d)", name, n, fields[1], s.Line)
						}
					}
				}
				cur = &Section{Kind: fields[0], Name: fields[1], File: name, Line: n}
				f.Sections = append(f.Sections, cur)
			default:
				return nil, fmt.Errorf("%s:%d: %q at the start of a line: want conn, config, ca, include or version (settings must be indented)", name, n, fields[0])
			}
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("%s:%d: indented setting outside any section", name, n)
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: want key=value, got %q", name, n, strings.TrimSpace(raw))
		}
		v, err := unquote(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %s: %w", name, n, k, err)
		}
		cur.Settings = append(cur.Settings, Setting{Key: k, Value: v, File: name, Line: n})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, n+1, err)
	}
	return f, nil
}

// stripComment removes a # comment that is not inside double quotes.
func stripComment(s string) string {
	in := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			in = !in
		case '#':
			if !in {
				return strings.TrimRight(s[:i], " \t")
			}
		}
	}
	return strings.TrimRight(s, " \t\r")
}

func unquote(v string) (string, error) {
	if !strings.HasPrefix(v, `"`) {
		return v, nil
	}
	if len(v) < 2 || !strings.HasSuffix(v, `"`) {
		return "", fmt.Errorf("unterminated quoted value %s", v)
	}
	return v[1 : len(v)-1], nil
}
