package dnskey

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// A dead resolver: the error names the three types once, the server's
// reason once with its count, and what to check.
func TestLookupFailureSaysItOnce(t *testing.T) {
	dead, err := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	s := newTestServer(t)
	r, _ := newTestResolver(t, s, func(c *Config) {
		c.Servers = []string{dead.LocalAddr().String()}
		c.Timeout = 50 * time.Millisecond
	})
	_, err = r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if !errors.Is(err, ErrDNSFailure) || errors.Is(err, ErrNoKey) {
		t.Fatalf("err = %v, want a DNS failure", err)
	}
	msg := err.Error()
	srv := dead.LocalAddr().String()
	want := "dnskey: 198.18.0.2: DNS lookup failed: 2.0.18.198.in-addr.arpa. IPSECKEY, TXT, KEY: " +
		srv + ": timeout after 50ms (2 times); check that dns.servers are up and answer from this host (oemesh dns lookup 198.18.0.2)"
	if msg != want {
		t.Errorf("error =\n%s\nwant\n%s", msg, want)
	}
	if n := strings.Count(msg, "timeout"); n != 1 {
		t.Errorf("the reason appears %d times in %q, want once", n, msg)
	}
}

func TestServerReasons(t *testing.T) {
	got := serverReasons([]serverError{{"a:53", "timeout after 2s"}, {"b:53", "rcode SERVFAIL"}, {"a:53", "timeout after 2s"}, {"b:53", "rcode REFUSED"}})
	if want := "a:53: timeout after 2s (2 times); b:53: rcode SERVFAIL; b:53: rcode REFUSED"; got != want {
		t.Errorf("serverReasons = %q, want %q", got, want)
	}
}
