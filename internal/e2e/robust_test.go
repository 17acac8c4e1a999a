package e2e

import (
	"crypto/rand"
	"encoding/json"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/internal/control"
	"github.com/oemesh/oemesh/internal/lab"
)

// TestRekeyUnderTraffic: with a 6 s CHILD SA lifetime the SA is rekeyed
// (at 90 %) while a ping runs every 100 ms; no echo is lost and the wire
// stays ESP only.
func TestRekeyUnderTraffic(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, Extra: "oe:\n  child_lifetime: 6s\n"})
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, Extra: "oe:\n  child_lifetime: 6s\n"})
	c := capture(t, m)
	a, b := m.Hosts["a"], m.Hosts["b"]
	r := m.Ping(ctx, "a", b.Addr4, 120, 100*time.Millisecond) // 12 s: at least one rekey
	if r.Received != r.Sent {
		t.Errorf("lost %d of %d echoes across rekeys", r.Sent-r.Received, r.Sent)
	}
	if n := c.Settled().Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("%d cleartext ICMP packets during rekey", n)
	}
	if log := m.Log("a") + m.Log("b"); !strings.Contains(log, "rekey_of=") || strings.Count(log, "tunnel up") < 3 {
		t.Errorf("no rekey happened: %d 'tunnel up' lines", strings.Count(log, "tunnel up"))
	}
}

// TestUniqueIDs: when A restarts (losing its SAs) and reconnects, B keeps
// one SA pair with A, not two.
func TestUniqueIDs(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "a", initiator)
	b := m.Hosts["b"]
	if r := m.Ping(ctx, "a", b.Addr4, 2, 100*time.Millisecond); r.Received != 2 {
		t.Fatalf("a→b: %+v", r)
	}
	m.StopDaemon("a", 9) // SIGKILL: no Delete reaches b
	start(t, m, ctx, "a", initiator)
	if r := m.Ping(ctx, "a", b.Addr4, 2, 100*time.Millisecond); r.Received != 2 {
		t.Fatalf("a→b after restart: %+v", r)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := m.CLI(ctx, "b", "traffic", "--json")
		var sas []control.TunnelStatus
		json.Unmarshal([]byte(out), &sas)
		n := 0
		for _, sa := range sas {
			if sa.Peer == "198.18.0.1" {
				n++
			}
		}
		if n == 1 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("b keeps %d SAs with a after a reconnected:\n%s", n, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHostileInput: garbage on the IKE port and a malformed DNS record do
// not crash the daemon, and traffic to well-behaved peers still works.
func TestHostileInput(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 60*time.Second)
	// c's reverse name gets a malformed IPSECKEY-ish TXT record and a good key.
	rev, _ := dns.ReverseAddr(m.Hosts["c"].Addr4.String())
	bad, err := dns.NewRR(rev + ` 60 IN TXT "X-IPsec-Server(10)=198.18.0.3 AQ==garbage"`)
	if err != nil {
		t.Fatal(err)
	}
	m.DNS.Add(bad)
	start(t, m, ctx, "b", responder)
	start(t, m, ctx, "c", responder)
	start(t, m, ctx, "a", initiator)
	// d (no daemon) throws garbage at b's IKE ports.
	d := m.Hosts["d"]
	err = d.Node.Do(func() error {
		for _, port := range []string{"500", "4500"} {
			conn, err := net.Dial("udp", net.JoinHostPort(m.Hosts["b"].Addr4.String(), port))
			if err != nil {
				return err
			}
			for i := 0; i < 200; i++ {
				buf := make([]byte, 1+i*7%1400)
				rand.Read(buf)
				if i%3 == 0 && len(buf) >= 28 {
					buf[17] = 0x20 // IKEv2 version, random rest
				}
				conn.Write(buf)
			}
			conn.Close()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := m.Ping(ctx, "a", m.Hosts["b"].Addr4, 2, 100*time.Millisecond); r.Received != 2 {
		t.Errorf("a→b after garbage: %+v", r)
	}
	if r := m.Ping(ctx, "a", m.Hosts["c"].Addr4, 2, 100*time.Millisecond); r.Received != 2 {
		t.Errorf("a→c with a malformed record beside its key: %+v", r)
	}
	if out, err := m.CLI(ctx, "b", "status"); err != nil {
		t.Errorf("b died after garbage: %v\n%s", err, out)
	}
	if !strings.Contains(m.Log("a"), "AQ==garbage") {
		t.Errorf("a did not log the skipped record")
	}
	out, _ := m.CLI(ctx, "a", "traffic")
	if !strings.Contains(out, "198.18.0.3") {
		t.Errorf("a has no SA with c:\n%s", out)
	}
}

// TestIdleCipherRelease: with kernel.cipher_idle at 2 s, an idle tunnel's
// SA directions let their cipher state go on both hosts, and the next
// pings rebuild it: every echo answered, only ESP on the wire.
func TestIdleCipherRelease(t *testing.T) {
	m := newMesh(t, lab.MeshOptions{})
	ctx := ctxT(t, 90*time.Second)
	extra := "kernel:\n  cipher_idle: 2s\n"
	start(t, m, ctx, "b", lab.HostConfig{Policies: responder.Policies, Extra: extra})
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiator.Policies, Extra: extra})
	c := capture(t, m)
	a, b := m.Hosts["a"], m.Hosts["b"]
	states := func(host string) string {
		t.Helper()
		out, err := m.CLI(ctx, host, "status")
		if err != nil {
			t.Fatalf("oemesh status on %s: %v\n%s", host, err, out)
		}
		return regexp.MustCompile(`cipher_states=\d+`).FindString(out)
	}
	if r := m.Ping(ctx, "a", b.Addr4, 3, 200*time.Millisecond); r.Received != 3 {
		t.Fatalf("first pings: %d/%d answered\n%s", r.Received, r.Sent, r.Output)
	}
	if sa, sb := states("a"), states("b"); sa != "cipher_states=2" || sb != "cipher_states=2" {
		t.Fatalf("with traffic: a %q, b %q; want cipher_states=2 on each (one pair, both directions)", sa, sb)
	}
	time.Sleep(4 * time.Second) // 2 s idle, checked every second
	if sa, sb := states("a"), states("b"); sa != "cipher_states=0" || sb != "cipher_states=0" {
		t.Fatalf("idle: a %q, b %q; want cipher_states=0", sa, sb)
	}
	c.Reset()
	if r := m.Ping(ctx, "a", b.Addr4, 5, 200*time.Millisecond); r.Received != 5 || !r.First {
		t.Errorf("pings after the release: %d/%d answered, first %v\n%s", r.Received, r.Sent, r.First, r.Output)
	}
	counts := c.Settled()
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindICMP); n != 0 {
		t.Errorf("%d cleartext ICMP packets after the release", n)
	}
	if n := counts.Between(a.Addr4, b.Addr4, lab.KindESP); n < 10 {
		t.Errorf("%d ESP packets after the release, want ≥ 10", n)
	}
	if sa, sb := states("a"), states("b"); sa != "cipher_states=2" || sb != "cipher_states=2" {
		t.Errorf("traffic again: a %q, b %q; want cipher_states=2", sa, sb)
	}
	if out, err := m.CLI(ctx, "a", "memory", "--gc"); err != nil || !strings.Contains(out, "live heap:") {
		t.Errorf("oemesh memory --gc on a: %v\n%s", err, out)
	}
}
