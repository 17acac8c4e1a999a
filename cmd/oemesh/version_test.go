package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/oemesh/oemesh/internal/netnstest"
)

// TestVersionsAgree builds both programs as a release is built (the version,
// commit and date through -ldflags -X, as the Makefile does) and checks that
// `oemesh version`, `oemeshd --version` and the running daemon's
// oemesh_build_info metric all report them.
func TestVersionsAgree(t *testing.T) {
	const (
		ver    = "9.8.7-test"
		commit = "0123456789abcdef0123456789abcdef01234567"
		date   = "2026-12-06T12:00:00Z"
	)
	dir := t.TempDir()
	pkg := "github.com/oemesh/oemesh/internal/version."
	ld := fmt.Sprintf("-X %sversion=v%s -X %scommit=%s -X %sdate=%s", pkg, ver, pkg, commit, pkg, date)
	for _, c := range []string{"oemesh", "oemeshd"} {
		if out, err := exec.Command("go", "build", "-ldflags", ld, "-o", filepath.Join(dir, c), "github.com/oemesh/oemesh/cmd/"+c).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", c, err, out)
		}
	}
	want := ver + " (commit 0123456789ab, " + date + ", "

	out, err := exec.Command(filepath.Join(dir, "oemesh"), "version").Output()
	if got := string(out); err != nil || !strings.HasPrefix(got, "oemesh "+want) {
		t.Errorf("oemesh version = %q, %v; want it to start with %q", got, err, "oemesh "+want)
	}
	out, err = exec.Command(filepath.Join(dir, "oemesh"), "version", "--json").Output()
	var js map[string]string
	if err == nil {
		err = json.Unmarshal(out, &js)
	}
	if err != nil || js["version"] != ver || js["commit"] != commit || js["date"] != date {
		t.Errorf("oemesh version --json = %s (%v), want version %s, commit %s, date %s", out, err, ver, commit, date)
	}
	out, err = exec.Command(filepath.Join(dir, "oemeshd"), "--version").Output()
	if got := string(out); err != nil || !strings.HasPrefix(got, "oemeshd "+want) {
		t.Errorf("oemeshd --version = %q, %v; want it to start with %q", got, err, "oemeshd "+want)
	}

	// The daemon runs in its own network namespace (daemonCmd); the scrape
	// is made from inside it.
	d := startDaemonFrom(t, dir, nil, "metrics:\n  listen: 127.0.0.1:9542\n")
	h, err := netns.GetFromPid(d.cmd.Process.Pid)
	if err != nil {
		t.Fatalf("the daemon's network namespace: %v", err)
	}
	defer h.Close()
	// A new namespace's loopback is down: the daemon listens on it, but
	// connecting needs it up.
	if err := netnstest.Do(h, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	}); err != nil {
		t.Fatalf("loopback up in the daemon's namespace: %v", err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = netnstest.Do(h, func() (err error) {
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
	resp, err := client.Get("http://127.0.0.1:9542/metrics")
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, d.stderr)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var info string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "oemesh_build_info{") {
			info = l
		}
	}
	for _, label := range []string{`version="` + ver + `"`, `commit="` + commit + `"`, `date="` + date + `"`} {
		if !strings.Contains(info, label) || !strings.HasSuffix(info, "} 1") {
			t.Errorf("oemesh_build_info = %q, want %s and the value 1", info, label)
		}
	}
}
