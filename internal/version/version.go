package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
)

// Set by the linker (-ldflags -X, see the package comment); empty otherwise.
// They are never written at run time.
var (
	version string
	commit  string
	date    string
)

// Devel is the version of a build that carries none: `go build` in a
// checkout without -ldflags.
const Devel = "(devel)"

// Info is what a binary knows of its own build.
type Info struct {
	Version string `json:"version"`          // "1.0.0" (no leading v), or Devel
	Commit  string `json:"commit,omitempty"` // the full commit hash, with "-dirty" for a tree with uncommitted changes; empty when unknown
	Date    string `json:"date,omitempty"`   // the commit or build time, RFC 3339; empty when unknown
	Go      string `json:"go"`               // the Go release it was built with
}

// Get returns this binary's build information: the linker's values first,
// then the toolchain's build info for what they leave empty.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version, commit, date, bi)
}

// resolve merges the linker's values with the toolchain's build info (nil
// when the binary has none).
func resolve(ldVersion, ldCommit, ldDate string, bi *debug.BuildInfo) Info {
	i := Info{Version: ldVersion, Commit: ldCommit, Date: ldDate, Go: runtime.Version()}
	if bi != nil {
		if i.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			i.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if i.Commit == "" {
					i.Commit = s.Value
				}
			case "vcs.time":
				if i.Date == "" {
					i.Date = s.Value
				}
			}
		}
		if ldCommit == "" && i.Commit != "" && slices.Contains(bi.Settings, debug.BuildSetting{Key: "vcs.modified", Value: "true"}) {
			i.Commit += dirty
		}
		if bi.GoVersion != "" {
			i.Go = bi.GoVersion
		}
	}
	i.Version = strings.TrimPrefix(i.Version, "v")
	if i.Version == "" {
		i.Version = Devel
	}
	return i
}

// dirty marks the commit of a build from a tree with uncommitted changes,
// as `git describe --dirty` does.
const dirty = "-dirty"

// ShortCommit is the commit's first 12 hex digits (and "-dirty"), or
// "unknown".
func (i Info) ShortCommit() string {
	hash, found := strings.CutSuffix(i.Commit, dirty)
	switch {
	case hash == "":
		return "unknown"
	case len(hash) > 12:
		hash = hash[:12]
	}
	if found {
		hash += dirty
	}
	return hash
}

// String is the one line that `oemesh version` and `oemeshd --version`
// print after the program's name: "1.0.0 (commit 0123456789ab, 2026-12-06T15:00:00Z, go1.26.8)".
func (i Info) String() string {
	d := i.Date
	if d == "" {
		d = "date unknown"
	}
	return fmt.Sprintf("%s (commit %s, %s, %s)", i.Version, i.ShortCommit(), d, i.Go)
}
