package dnskey

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// Reconfigure moves the queries that start afterwards to new servers with a
// new timeout; a list it cannot use changes nothing.
func TestReconfigure(t *testing.T) {
	dead, err := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	s.add(t, target+" 300 IN IPSECKEY 10 0 4 . "+b64key(t, testKeys().ed.Public()))
	r, clk := newTestResolver(t, s, func(c *Config) {
		c.Servers = []string{dead.LocalAddr().String()}
		c.Timeout = 100 * time.Millisecond
	})
	_, err = r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if !errors.Is(err, ErrDNSFailure) || !strings.Contains(err.Error(), "timeout after 100ms") {
		t.Fatalf("Lookup from the dead server = %v, want a DNS failure after 100ms", err)
	}

	if err := r.Reconfigure([]string{"/nonexistent/resolv.conf"}, time.Second); err == nil {
		t.Error("Reconfigure with a missing resolv.conf succeeded")
	}
	if got := r.Servers(); !slices.Equal(got, []string{dead.LocalAddr().String()}) || r.Timeout() != 100*time.Millisecond {
		t.Errorf("after a failed Reconfigure: servers %v timeout %v, want the old ones", got, r.Timeout())
	}

	if err := r.Reconfigure([]string{s.addr}, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got := r.Servers(); !slices.Equal(got, []string{s.addr}) || r.Timeout() != 1500*time.Millisecond {
		t.Errorf("after Reconfigure: servers %v timeout %v", got, r.Timeout())
	}
	clk.Advance(time.Minute) // past the failure memory
	res, err := r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if err != nil || len(res.Keys) != 1 {
		t.Fatalf("Lookup after Reconfigure = %+v, %v", res, err)
	}
	if err := r.Reconfigure([]string{s.addr}, 0); err != nil || r.Timeout() != 2*time.Second {
		t.Errorf("Reconfigure with timeout 0: %v, timeout %v, want the 2s default", err, r.Timeout())
	}
}
