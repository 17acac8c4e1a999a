package layout

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// maxLines is the length past which a Go file must say, near its top, why
// it is not split: files hold one subject, and a long one usually holds
// two (STYLE.md; issue 14).
const maxLines = 600

// longFileMark starts the comment that gives the reason, within the first
// headLines lines: "// Long file: <why>".
const (
	longFileMark = "// Long file:"
	headLines    = 30
)

func TestLongFilesSayWhy(t *testing.T) {
	out, err := exec.Command("git", "-C", "../..", "ls-files", "*.go").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	files := strings.Fields(string(out))
	if len(files) < 100 {
		t.Fatalf("only %d Go files listed: is git ls-files working?", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile("../../" + f)
		if err != nil {
			if os.IsNotExist(err) {
				continue // deleted in the work tree, not yet in the index
			}
			t.Fatal(err)
		}
		n := bytes.Count(data, []byte("\n"))
		if n <= maxLines {
			continue
		}
		if !saysWhy(data) {
			t.Errorf("%s has %d lines (over %d) and no %q comment in its first %d lines saying why it is not split",
				f, n, maxLines, longFileMark, headLines)
		}
	}
}

func saysWhy(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for i := 0; i < headLines && sc.Scan(); i++ {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), longFileMark); ok && strings.TrimSpace(rest) != "" {
			return true
		}
	}
	return false
}

func TestSaysWhy(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want bool
	}{
		{"package x\n", false},
		{"// Long file: one table of test vectors.\npackage x\n", true},
		{"// Long file:\npackage x\n", false},
		{strings.Repeat("\n", headLines) + "// Long file: too late.\n", false},
	} {
		if got := saysWhy([]byte(tc.src)); got != tc.want {
			t.Errorf("saysWhy(%q) = %v, want %v", tc.src, got, tc.want)
		}
	}
}
