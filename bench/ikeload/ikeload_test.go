package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
)

func TestParseFlagsErrors(t *testing.T) {
	base := []string{"-target", "10.0.1.2", "-src", "10.1.0.0/16"}
	for _, tc := range []struct {
		args []string
		want string // a flag the error must name
	}{
		{[]string{"-src", "10.1.0.0/16"}, "-target: missing"},
		{[]string{"-target", "2001:db8::1", "-src", "10.1.0.0/16"}, "-target"},
		{[]string{"-target", "10.0.1.2"}, "-src: missing"},
		{[]string{"-target", "10.0.1.2", "-src", "10.1.0.1/32"}, "-src"},
		{[]string{"-target", "10.0.1.2", "-src", "2001:db8::/64"}, "-src"},
		{append(base, "-auth", "psk"), "-psk"},
		{append(base, "-auth", "dsa"), "-auth"},
		{append(base, "-auth", "ed25519"), "-peer-key"},
		{append(base, "-auth", "null", "-key", "x"), "-key"},
		{append(base, "-auth", "null", "-n", "0"), "-n"},
		{append(base, "-auth", "null", "-concurrency", "0"), "-concurrency"},
		{append(base, "-auth", "null", "-rate", "-1"), "-rate"},
		{append(base, "-auth", "null", "-kex", "mlkem"), "-kex"},
		{append(base, "-auth", "null", "-rekeys", "-1"), "-rekeys"},
		{append(base, "-auth", "null", "-timeout", "0s"), "-timeout"},
		{append(base, "-auth", "null", "-local-port", "4500"), "-local-port"},
		{append(base, "-auth", "null", "-id", "a b"), "-id"},
		{append(base, "-auth", "null", "stray"), "stray"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseFlags(%q) = %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
	c, err := parseFlags(append(base, "-auth", "psk", "-psk", "s", "-kex", "hybrid", "-rate", "500", "-duration", "3s"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.target != netip.MustParseAddrPort("10.0.1.2:500") || c.auth != authPSK || c.peerAuth != "psk" || c.kex != kexHybrid || c.rate != 500 || c.duration != 3*time.Second {
		t.Errorf("parsed %+v", c)
	}
}

func TestSources(t *testing.T) {
	c := &config{src: netip.MustParsePrefix("10.1.0.0/16")}
	if got := c.hosts(); got != 65534 {
		t.Errorf("hosts() = %d, want 65534", got)
	}
	for i, want := range map[int]string{0: "10.1.0.1", 1: "10.1.0.2", 254: "10.1.0.255", 255: "10.1.1.0", 65533: "10.1.255.254", 65534: "10.1.0.1"} {
		if got := c.source(i); got.String() != want {
			t.Errorf("source(%d) = %v, want %v", i, got, want)
		}
	}
	c.src = netip.MustParsePrefix("192.0.2.4/30")
	seen := map[netip.Addr]bool{}
	for i := range 4 {
		seen[c.source(i)] = true
	}
	if len(seen) != 2 || !seen[netip.MustParseAddr("192.0.2.5")] || !seen[netip.MustParseAddr("192.0.2.6")] {
		t.Errorf("a /30 gives %v, want .5 and .6", seen)
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{50: 50 * time.Millisecond, 99: 99 * time.Millisecond, 100: 100 * time.Millisecond, 1: time.Millisecond} {
		if got := percentile(d, p); got != want {
			t.Errorf("percentile(1..100 ms, %v) = %v, want %v", p, got, want)
		}
	}
	if got := percentile(d[:1], 99); got != time.Millisecond {
		t.Errorf("percentile of one = %v", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile of none = %v", got)
	}
}

func TestReasonAndReport(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("x: %w", ike.ErrTimeout), failTimeout},
		{context.DeadlineExceeded, failTimeout},
		{fmt.Errorf("x: %w", ike.ErrAuthentication), failAuth},
		{&ike.NotifyError{Type: 24}, "notify_AUTHENTICATION_FAILED"},
		{errors.New("boom"), failOther},
	} {
		if got := reason(tc.err); got != tc.want {
			t.Errorf("reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	r := newRecorder()
	for i := range 4 {
		r.start()
		r.ok(time.Duration(i+1) * time.Millisecond)
	}
	r.start()
	r.fail(failTimeout, errors.New("first"))
	r.start()
	r.fail(failTimeout, errors.New("second"))
	rep := &report{Target: "10.0.1.2:500", Auth: "psk", Kex: "classical"}
	r.fill(rep, 2*time.Second)
	if rep.Started != 6 || rep.Succeeded != 4 || rep.Failed != 2 || rep.Failures[failTimeout] != 2 || rep.Examples[failTimeout] != "first" {
		t.Errorf("report %+v", rep)
	}
	if rep.PerSecond != 2 || rep.P50 != 2 || rep.P99 != 4 || rep.Max != 4 || rep.Mean != 2.5 {
		t.Errorf("figures %+v", rep)
	}
	var buf bytes.Buffer
	if err := rep.writeJSON(&buf); err != nil || !strings.Contains(buf.String(), `"handshakes_per_second": 2`) {
		t.Errorf("JSON %v:\n%s", err, buf.String())
	}
}

func TestKeys(t *testing.T) {
	for _, a := range []string{"ed25519", "rsa"} {
		dir := t.TempDir()
		if err := runKeys([]string{"-auth", a, "-out", dir}, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		c := &config{auth: authMethod(a), keyFile: filepath.Join(dir, "initiator.key")}
		k, err := c.signer()
		if err != nil {
			t.Fatal(err)
		}
		if kindOf(k) != authMethod(a) {
			t.Errorf("%s: loaded a %s key", a, kindOf(k))
		}
		c.auth = map[string]authMethod{"ed25519": authRSA, "rsa": authEd25519}[a]
		if _, err := c.signer(); err == nil {
			t.Errorf("%s key accepted for -auth %s", a, c.auth)
		}
		for _, f := range []string{"initiator.pub", "responder.pub", "responder.key"} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Error(err)
			}
		}
	}
	if err := runKeys([]string{"-auth", "dsa", "-out", t.TempDir()}, io.Discard, io.Discard); err == nil {
		t.Error("keys -auth dsa accepted")
	}
}

// TestTransportMarker sends over the loader's transport to itself on
// loopback: from the NAT-T port a message carries the non-ESP marker on
// the wire and arrives without it, with the address it was sent to as
// its local address; ESP on the NAT-T port is dropped, not handed on.
func TestTransportMarker(t *testing.T) {
	tr, err := listenTransport(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		pkt           []byte
		local, remote netip.AddrPort
	}
	ch := make(chan got, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.serve(ctx, 1, func(pkt []byte, local, remote netip.AddrPort) { ch <- got{pkt, local, remote} })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	lo := netip.MustParseAddr("127.0.0.1")
	msg := bytes.Repeat([]byte{0xab}, 40)
	for _, port := range tr.ports {
		if err := tr.Send(msg, netip.AddrPortFrom(lo, port), netip.AddrPortFrom(lo, port)); err != nil {
			t.Fatal(err)
		}
		select {
		case g := <-ch:
			if !bytes.Equal(g.pkt, msg) || g.local != netip.AddrPortFrom(lo, port) || g.remote != netip.AddrPortFrom(lo, port) {
				t.Errorf("port %d: got %x from %v at %v", port, g.pkt, g.remote, g.local)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("port %d: nothing arrived", port)
		}
	}
	// ESP-in-UDP (no marker) to the NAT-T port: counted, dropped.
	if _, err := tr.ikeConn.WriteTo(msg, tr.nattConn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tr.dropped.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if tr.dropped.Load() != 1 || len(ch) != 0 {
		t.Errorf("ESP on the NAT-T port: %d dropped, %d handed on", tr.dropped.Load(), len(ch))
	}
}
