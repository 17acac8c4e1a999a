package manpage

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"time"
)

// Release is a released version and its date, as CHANGELOG.md records them.
type Release struct {
	Version string // "0.1.0"
	Date    time.Time
}

// releaseLine is a keep-a-changelog release heading: "## [0.1.0] - 2026-12-06".
var releaseLine = regexp.MustCompile(`^## \[(\d+\.\d+\.\d+[^\]]*)\] - (\d{4}-\d{2}-\d{2})\s*$`)

// LatestRelease reads the newest release from a keep-a-changelog file: the
// first release heading (the Unreleased section has no date and is
// skipped).
func LatestRelease(changelog string) (Release, error) {
	f, err := os.Open(changelog)
	if err != nil {
		return Release{}, fmt.Errorf("reading the release for the man pages: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := releaseLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		d, err := time.Parse(time.DateOnly, m[2])
		if err != nil {
			return Release{}, fmt.Errorf("%s: release %s: date %q: %w", changelog, m[1], m[2], err)
		}
		return Release{Version: m[1], Date: d}, nil
	}
	if err := sc.Err(); err != nil {
		return Release{}, fmt.Errorf("reading %s: %w", changelog, err)
	}
	return Release{}, fmt.Errorf("%s has no release heading such as \"## [0.1.0] - 2026-12-06\"", changelog)
}
