package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oemesh/oemesh/internal/control"
)

// portExcludes keeps ssh to the peers clear, and DNS both ways.
const portExcludes = "# ssh to the peers stays clear\nout tcp any 10.0.0.0/8@22 1023\nboth udp any 53 1023\n"

func TestPolicyExplainPortExclusionOffline(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"private": "10.0.0.0/8\n", "portexcludes.conf": portExcludes})
	excl := filepath.Join(dir, "portexcludes.conf")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--proto", "tcp", "--port", "22"}, `10.1.2.3: clear for tcp/22 (port exclusion "out tcp 0.0.0.0/0 10.0.0.0/8@22 1023" at ` + excl + ":2)\n"},
		{[]string{"--proto", "6", "--port", "22"}, `10.1.2.3: clear for tcp/22 (port exclusion "out tcp 0.0.0.0/0 10.0.0.0/8@22 1023" at ` + excl + ":2)\n"},
		{[]string{"--proto", "udp", "--port", "53"}, `10.1.2.3: clear for udp/53 (port exclusion "both udp any 53 1023" at ` + excl + ":3)\n"},
		{[]string{"--proto", "tcp", "--port", "80"}, "10.1.2.3: private (10.0.0.0/8 at " + filepath.Join(dir, "private") + ":1)\n"},
		{[]string{"--proto", "icmp"}, "10.1.2.3: private (10.0.0.0/8 at " + filepath.Join(dir, "private") + ":1)\n"},
		{nil, "10.1.2.3: private (10.0.0.0/8 at " + filepath.Join(dir, "private") + ":1)\n"},
	} {
		r := run(t, "oemesh", append(append([]string{"policy", "explain", "--dir", dir}, tc.args...), "10.1.2.3")...)
		if r.code != 0 || r.stdout != tc.want {
			t.Errorf("%v: %+v, want %q", tc.args, r, tc.want)
		}
	}
	r := run(t, "oemesh", "policy", "explain", "--dir", dir, "--json", "--proto", "tcp", "--port", "22", "10.1.2.3")
	var ex control.Explanation
	if err := decodeStrict(r.stdout, &ex); err != nil || ex.Group != control.GroupClear || ex.Source != excl+":2" ||
		ex.PortExclusion != "out tcp 0.0.0.0/0 10.0.0.0/8@22 1023" || ex.Prefix == nil || *ex.Prefix != "10.0.0.0/8" {
		t.Errorf("json: %v %+v", err, ex)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--port", "22"}, "--port needs --proto"},
		{[]string{"--proto", "tcpx"}, `--proto "tcpx": want a name`},
		{[]string{"--port", "70000", "--proto", "tcp"}, "70000"},
	} {
		r := run(t, "oemesh", append(append([]string{"policy", "explain", "--dir", dir}, tc.args...), "10.1.2.3")...)
		if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: %+v, want an error holding %q", tc.args, r, tc.want)
		}
	}
}

// TestPolicyExplainConfigOffline: with --config, a routed conn whose
// subnet is more specific than a group's prefix takes the address, without
// a daemon; a group's more specific prefix beats the conn, and a conn that
// is not routed (auto add) takes nothing.
func TestPolicyExplainConfigOffline(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"private-or-clear":  "10.0.0.0/8\n",
		"clear":             "10.2.9.0/24\n",
		"portexcludes.conf": "out tcp any 22 1023\n",
	})
	cfg := filepath.Join(t.TempDir(), "oemesh.yaml")
	writeFiles(t, filepath.Dir(cfg), map[string]string{"oemesh.yaml": `
conns:
  - name: office
    remote: 198.51.100.1
    remote_subnets: [10.2.0.0/16]
    auto: route
  - name: lab
    remote: 198.51.100.2
    remote_subnets: [10.3.0.0/16]
    auto: add
`})
	for _, tc := range []struct {
		addr string
		args []string
		want string
	}{
		{"10.2.1.1", nil, "10.2.1.1: private (conn office) (10.2.0.0/16 at conn office in " + cfg + ")\n"},
		// A port exclusion is above the conns too, as in the daemon and
		// the data planes.
		{"10.2.1.1", []string{"--proto", "tcp", "--port", "22"}, `10.2.1.1: clear for tcp/22 (port exclusion "out tcp any 22 1023" at ` + filepath.Join(dir, "portexcludes.conf") + ":1)\n"},
		{"10.2.1.1", []string{"--proto", "tcp", "--port", "80"}, "10.2.1.1: private (conn office) (10.2.0.0/16 at conn office in " + cfg + ")\n"},
		{"10.2.9.1", nil, "10.2.9.1: clear (10.2.9.0/24 at " + filepath.Join(dir, "clear") + ":1)\n"},
		{"10.3.1.1", nil, "10.3.1.1: private-or-clear (10.0.0.0/8 at " + filepath.Join(dir, "private-or-clear") + ":1)\n"},
		{"10.3.1.1", []string{"--proto", "tcp", "--port", "22"}, `10.3.1.1: clear for tcp/22 (port exclusion "out tcp any 22 1023" at ` + filepath.Join(dir, "portexcludes.conf") + ":1)\n"},
	} {
		r := run(t, "oemesh", append(append([]string{"policy", "explain", "--dir", dir, "--config", cfg}, tc.args...), tc.addr)...)
		if r.code != 0 || r.stdout != tc.want {
			t.Errorf("%s %v: %+v, want %q", tc.addr, tc.args, r, tc.want)
		}
	}
	r := run(t, "oemesh", "policy", "explain", "--dir", dir, "--config", cfg, "--json", "10.2.1.1")
	var ex map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &ex); err != nil || ex["conn"] != "office" || ex["group"] != "private" || ex["prefix"] != "10.2.0.0/16" {
		t.Errorf("json: %v %v", err, ex)
	}
	if r := run(t, "oemesh", "policy", "explain", "--config", cfg, "10.2.1.1"); r.code == 0 || !strings.Contains(r.stderr, "--config is read offline and needs --dir") {
		t.Errorf("--config without --dir: %+v", r)
	}
	writeFiles(t, filepath.Dir(cfg), map[string]string{"oemesh.yaml": "conns:\n  - name: x\n    remote_subnet: [10.0.0.0/8]\n"})
	if r := run(t, "oemesh", "policy", "explain", "--dir", dir, "--config", cfg, "10.2.1.1"); r.code == 0 || !strings.Contains(r.stderr, `did you mean "remote_subnets"`) {
		t.Errorf("bad config: %+v", r)
	}
}

func TestPolicyCheckPortExcludesAndUnknownFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"private":           "10.0.0.0/8\n",
		"privat":            "10.1.0.0/16\n",
		"portexcludes.conf": "in tcp any 22 1023\nin tcp any 10.0.0.0/8@ssh 1023\n",
	})
	r := run(t, "oemesh", "policy", "check", "--dir", dir)
	wantErr := filepath.Join(dir, "portexcludes.conf") + `:2: "10.0.0.0/8@ssh": destination: port "ssh": want a number from 0 to 65535 (one port, not a range or a name)`
	wantWarn := "warning: " + filepath.Join(dir, "privat") + ": unknown file: not a policy group"
	if r.code != 1 || !strings.Contains(r.stderr, wantErr) || !strings.Contains(r.stderr, wantWarn) {
		t.Errorf("check: %+v\nwant %q and %q", r, wantErr, wantWarn)
	}
	writeFiles(t, dir, map[string]string{"portexcludes.conf": "in tcp any 22 1023\n"})
	r = run(t, "oemesh", "policy", "check", "--dir", dir)
	if r.code != 0 || !strings.Contains(r.stderr, wantWarn) || r.stdout != dir+": ok, 1 prefixes, 1 port exclusions\n" {
		t.Errorf("check: %+v", r)
	}
}

// TestPolicyExplainPortExclusionDaemon: the daemon answers --proto and
// --port the same way.
func TestPolicyExplainPortExclusionDaemon(t *testing.T) {
	d := startDaemon(t, map[string]string{"private": "10.0.0.0/8\n", "portexcludes.conf": portExcludes})
	excl := filepath.Join(d.pol, "portexcludes.conf")
	r := d.oemesh(t, "policy", "explain", "--proto", "tcp", "--port", "22", "10.1.2.3")
	if want := `10.1.2.3: clear for tcp/22 (port exclusion "out tcp 0.0.0.0/0 10.0.0.0/8@22 1023" at ` + excl + ":2)\n"; r.code != 0 || r.stdout != want {
		t.Errorf("tcp/22: %+v, want %q", r, want)
	}
	r = d.oemesh(t, "policy", "explain", "--proto", "icmp", "10.1.2.3")
	if want := "10.1.2.3: private (10.0.0.0/8 at " + filepath.Join(d.pol, "private") + ":1)\n"; r.code != 0 || r.stdout != want {
		t.Errorf("icmp: %+v, want %q", r, want)
	}
}
