package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/logtest"
)

func TestParseAddressRequest(t *testing.T) {
	for _, tc := range []struct {
		in         []string
		ipv4, ipv6 bool
	}{{nil, false, false}, {[]string{"ipv4"}, true, false}, {[]string{"ipv6"}, false, true}, {[]string{"IPv4", "6"}, true, true}} {
		r, err := parseAddressRequest(tc.in)
		if err != nil || r.IPv4 != tc.ipv4 || r.IPv6 != tc.ipv6 {
			t.Errorf("%q: %+v %v", tc.in, r, err)
		}
	}
	if _, err := parseAddressRequest([]string{"both"}); err == nil || !strings.Contains(err.Error(), `--request-address "both"`) {
		t.Errorf("bad family: %v", err)
	}
	if _, err := parseAddressPool([]string{"100.64.0.9-100.64.0.1"}); err == nil || !strings.Contains(err.Error(), "--address-pool") {
		t.Errorf("bad pool: %v", err)
	}
	if p, err := parseAddressPool(nil); p != nil || err != nil {
		t.Errorf("no ranges: %v %v", p, err)
	}
}

// TestProbeRespondModeCfg: probe --request-address gets respond's only
// pool address, narrowed selectors and all, in text and JSON; the lease
// is free again once the probe has deleted its SA, which a second probe
// shows by getting the same address, and respond's events by their pool
// counters.
func TestProbeRespondModeCfg(t *testing.T) {
	resp := exec.Command(filepath.Join(builtDir, "oemesh"), "respond", "--listen", "127.0.0.1", "--port", "0", "--natt-port", "0",
		"--address-pool", "100.64.0.7", "--json", "--debug")
	var so, se logtest.Buffer
	resp.Stdout, resp.Stderr = &so, &se
	if err := resp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Process.Kill(); resp.Wait() })
	portRe := regexp.MustCompile(`msg=responding ike=\[127\.0\.0\.1:(\d+)\]`)
	var port string
	for deadline := time.Now().Add(10 * time.Second); port == ""; time.Sleep(20 * time.Millisecond) {
		if m := portRe.FindStringSubmatch(se.String()); m != nil {
			port = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("respond did not report its port:\n%s", se.String())
		}
	}
	probe := []string{"probe", "127.0.0.1", "--port", port, "--auth", "null", "--timeout", "5s", "--request-address"}
	r := run(t, "oemesh", probe...)
	if r.code != 0 {
		t.Fatalf("probe: %+v", r)
	}
	for _, want := range []string{"virtual IP: 100.64.0.7\n", "100.64.0.7-100.64.0.7 proto 0 ports 0-65535 === 127.0.0.1-127.0.0.1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("probe output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = run(t, "oemesh", append(probe, "--json")...)
	var rep probeReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || r.code != 0 {
		t.Fatalf("probe --json: %v\n%+v", err, r)
	}
	if rep.Child == nil || !slices.Equal(rep.Child.VirtualIPs, []string{"100.64.0.7"}) {
		t.Fatalf("second probe: child %+v; want virtual_ips [100.64.0.7], the released lease", rep.Child)
	}
	// respond's events: two child_up with the lease, and an ike_down after
	// each with the address back in the pool.
	var ups, downs []respondEvent
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ups, downs = nil, nil
		for _, line := range strings.Split(strings.TrimSpace(so.String()), "\n") {
			var ev respondEvent
			if json.Unmarshal([]byte(line), &ev) != nil {
				continue
			}
			switch ev.Event {
			case "child_up":
				ups = append(ups, ev)
			case "ike_down":
				downs = append(downs, ev)
			}
		}
		if len(downs) >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if len(ups) != 2 || len(downs) != 2 {
		t.Fatalf("respond: %d child_up, %d ike_down; want 2 each:\n%s", len(ups), len(downs), so.String())
	}
	for i, ev := range ups {
		if ev.Child == nil || !slices.Equal(ev.Child.VirtualIPs, []string{"100.64.0.7"}) || ev.Pool == nil || ev.Pool.Online != 1 ||
			!slices.Equal(ev.Pool.Leases, []string{"100.64.0.7 (anonymous)"}) {
			t.Errorf("child_up %d: child %+v pool %+v", i+1, ev.Child, ev.Pool)
		}
	}
	if p := downs[1].Pool; p == nil || p.Online != 0 || p.Acquired != 2 || p.Released != 2 || len(p.Leases) != 0 {
		t.Errorf("last ike_down: pool %+v; want nothing leased, 2 acquired and released", p)
	}
}
