package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAgainstRespond runs 50 handshakes from 50 source addresses against
// `oemesh respond` in a namespace beside the generator's, with a
// pre-shared key, with Ed25519, with Ed25519 over the hybrid ML-KEM-768
// key exchange, with NULL and with RSA-2048; every handshake must
// complete, and the responder must have seen an IKE SA from each of the
// 50 addresses.
func TestAgainstRespond(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces); CI runs as root")
	}
	bin := buildBinaries(t, "oemesh")
	keys := t.TempDir()
	if err := runKeys([]string{"-auth", "ed25519", "-out", keys}, io.Discard, os.Stderr); err != nil {
		t.Fatal(err)
	}
	rsaKeys := t.TempDir()
	if err := runKeys([]string{"-auth", "rsa", "-out", rsaKeys}, io.Discard, os.Stderr); err != nil {
		t.Fatal(err)
	}
	const n = 50
	for _, tc := range []struct {
		name     string
		respArgs []string
		flags    []string
		hybrid   bool
		rekeys   int
	}{
		{"psk", []string{"--auth", "psk", "--psk", "load test key, long enough"},
			[]string{"-auth", "psk", "-psk", "load test key, long enough"}, false, 0},
		{"ed25519", []string{"--auth", "key", "--key", filepath.Join(keys, "responder.key"), "--peer-key", filepath.Join(keys, "initiator.pub")},
			[]string{"-auth", "ed25519", "-key", filepath.Join(keys, "initiator.key"), "-peer-key", filepath.Join(keys, "responder.pub")}, false, 0},
		{"ed25519-hybrid", []string{"--auth", "key", "--key", filepath.Join(keys, "responder.key"), "--peer-key", filepath.Join(keys, "initiator.pub")},
			[]string{"-auth", "ed25519", "-key", filepath.Join(keys, "initiator.key"), "-peer-key", filepath.Join(keys, "responder.pub"), "-kex", "hybrid"}, true, 0},
		{"null", []string{"--auth", "null"}, []string{"-auth", "null"}, false, 0},
		{"rsa", []string{"--auth", "key", "--key", filepath.Join(rsaKeys, "responder.key"), "--peer-key", filepath.Join(rsaKeys, "initiator.pub")},
			[]string{"-auth", "rsa", "-key", filepath.Join(rsaKeys, "initiator.key"), "-peer-key", filepath.Join(rsaKeys, "responder.pub")}, false, 0},
		// Two CHILD SA rekeys per IKE SA, every SA held until the end.
		{"psk-rekeys-hold", []string{"--auth", "psk", "--psk", "load test key, long enough"},
			[]string{"-auth", "psk", "-psk", "load test key, long enough", "-rekeys", "2", "-hold", "100ms"}, false, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestbed(t, 1)
			logPath := filepath.Join(t.TempDir(), "respond.log")
			args := append([]string{"--json", "respond", "--listen", b.respAddr(0)}, tc.respArgs...)
			p := startProcess(t, b.resp[0], logPath, filepath.Join(bin, "oemesh"), args...)
			p.waitUDP(t, 500)
			flags := append([]string{"-target", b.respAddr(0), "-src", "10.1.0.0/26", "-n", "50", "-concurrency", "8", "-timeout", "20s"}, tc.flags...)
			cfg, err := parseFlags(flags, os.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			l := b.loaderIn(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			rep, err := l.run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(rep.line())
			if rep.Succeeded != n || rep.Failed != 0 {
				log, _ := os.ReadFile(logPath)
				t.Fatalf("%d of %d handshakes succeeded, failures %v %v\nresponder:\n%s", rep.Succeeded, n, rep.Failures, rep.Examples, tail(log, 30))
			}
			if rep.P50 <= 0 || rep.P99 < rep.P50 || rep.PerSecond <= 0 {
				t.Errorf("report: p50 %v p99 %v rate %v", rep.P50, rep.P99, rep.PerSecond)
			}
			p.stop()
			remotes, hybrid, ev := respondSAs(t, logPath)
			if len(remotes) != n {
				t.Errorf("the responder saw IKE SAs from %d distinct addresses, want %d", len(remotes), n)
			}
			pre := netip.MustParsePrefix("10.1.0.0/26")
			for a := range remotes {
				if !pre.Contains(a) {
					t.Errorf("an IKE SA from %v, outside -src %v", a, pre)
				}
			}
			if tc.hybrid && hybrid != n {
				t.Errorf("%d of %d IKE SAs keyed with ML-KEM at the responder", hybrid, n)
			}
			// Every IKE SA was deleted by the initiator (held or not), and
			// each rekey made one more CHILD SA.
			if ev["ike_up"] != n || ev["ike_down"] != n || ev["child_up"] != n*(1+tc.rekeys) {
				t.Errorf("responder events %v; want %d ike_up and ike_down, %d child_up", ev, n, n*(1+tc.rekeys))
			}
		})
	}
}

// respondSAs reads `oemesh --json respond`'s events: the distinct
// initiator addresses of its IKE SAs, how many were keyed with a
// quantum-resistant exchange, and the count of each event.
func respondSAs(t *testing.T, path string) (map[netip.Addr]bool, int, map[string]int) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	remotes, hybrid, events := map[netip.Addr]bool{}, 0, map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev struct {
			Event string `json:"event"`
			IKE   *struct {
				Remote       string `json:"remote"`
				KeyExchanges string `json:"key_exchanges"`
			} `json:"ike"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		events[ev.Event]++
		if ev.Event != "ike_up" || ev.IKE == nil {
			continue
		}
		ap, err := netip.ParseAddrPort(ev.IKE.Remote)
		if err != nil {
			t.Fatalf("ike_up remote %q: %v", ev.IKE.Remote, err)
		}
		remotes[ap.Addr()] = true
		if slices.Contains(strings.Split(ev.IKE.KeyExchanges, "+"), "mlkem768") {
			hybrid++
		}
	}
	return remotes, hybrid, events
}

func tail(b []byte, lines int) string {
	n := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n++
			if n > lines {
				return string(b[i+1:])
			}
		}
	}
	return string(b)
}
