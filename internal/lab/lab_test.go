package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func newLab(t *testing.T) *Lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("lab tests need root (network namespaces); CI runs as root")
	}
	l, err := New(fmt.Sprintf("omlt%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestLabNetwork builds a switch with two hosts and a router with a host
// behind it, pings across, answers DNS, and captures the cleartext pings.
func TestLabNetwork(t *testing.T) {
	l := newLab(t)
	sw, err := l.AddSwitch("sw")
	must(t, err)
	a, err := l.AddHost("a")
	must(t, err)
	g, err := l.AddHost("g")
	must(t, err)
	e, err := l.AddHost("e")
	must(t, err)
	must(t, l.Connect(a, sw, "eth0", "198.18.0.1/24", "2001:db8:1::1/64"))
	must(t, l.Connect(g, sw, "eth0", "198.18.0.5/24", "2001:db8:1::5/64"))
	must(t, l.Link(g, "eth1", []string{"198.18.1.1/24"}, e, "eth0", []string{"198.18.1.10/24"}))
	must(t, g.Sysctl("net/ipv4/ip_forward", "1"))
	must(t, a.Route("198.18.1.0/24", "198.18.0.5"))
	must(t, e.Route("198.18.0.0/24", "198.18.1.1"))

	if os.Getenv("LABDEBUG") != "" {
		time.Sleep(30 * time.Second)
	}
	capt, err := StartCapture(sw)
	must(t, err)
	defer capt.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dst := range []string{"198.18.0.5", "2001:db8:1::5", "198.18.1.10"} {
		if out, err := a.Command(ctx, "ping", "-c", "2", "-i", "0.2", "-W", "2", dst).CombinedOutput(); err != nil {
			t.Fatalf("ping %s from a: %v\n%s", dst, err, out)
		}
	}
	time.Sleep(150 * time.Millisecond)
	counts := capt.Stop()
	aAddr, gAddr := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.5")
	if n := counts.From(aAddr, gAddr, KindICMP); n != 2 {
		t.Errorf("echo requests a→g on the switch: %d, want 2 (%v)", n, counts)
	}
	if n := counts.From(aAddr, netip.MustParseAddr("198.18.1.10"), KindICMP); n != 2 {
		t.Errorf("echo requests a→e on the switch: %d, want 2", n)
	}
	if n := counts.Between(aAddr, gAddr, KindESP); n != 0 {
		t.Errorf("ESP where there is none: %d", n)
	}

	srv := NewDNSServer(5)
	defer srv.Close()
	rr, err := dns.NewRR("1.0.18.198.in-addr.arpa. 60 IN TXT \"hello\"")
	must(t, err)
	srv.Add(rr)
	ap, err := srv.Start(g, netip.MustParseAddr("198.18.0.5"))
	must(t, err)
	var resp *dns.Msg
	must(t, a.Do(func() error {
		m := new(dns.Msg)
		m.SetQuestion("1.0.18.198.in-addr.arpa.", dns.TypeTXT)
		var err error
		resp, _, err = new(dns.Client).Exchange(m, ap.String())
		return err
	}))
	if len(resp.Answer) != 1 || resp.Answer[0].(*dns.TXT).Txt[0] != "hello" {
		t.Errorf("answer = %v", resp)
	}
	must(t, a.Do(func() error {
		m := new(dns.Msg)
		m.SetQuestion("9.0.18.198.in-addr.arpa.", dns.TypeIPSECKEY)
		var err error
		resp, _, err = new(dns.Client).Exchange(m, ap.String())
		return err
	}))
	if resp.Rcode != dns.RcodeNameError || len(resp.Ns) != 1 {
		t.Errorf("missing name: rcode %d ns %v", resp.Rcode, resp.Ns)
	}
	if srv.Queries("1.0.18.198.in-addr.arpa.") != 1 {
		t.Errorf("query count %d", srv.Queries("1.0.18.198.in-addr.arpa."))
	}

	// Faults toward one client: SERVFAIL, then no answer at all, then normal again.
	ask := func(timeout time.Duration) (*dns.Msg, error) {
		var resp *dns.Msg
		err := a.Do(func() error {
			m := new(dns.Msg)
			m.SetQuestion("1.0.18.198.in-addr.arpa.", dns.TypeTXT)
			var err error
			resp, _, err = (&dns.Client{Timeout: timeout}).Exchange(m, ap.String())
			return err
		})
		return resp, err
	}
	srv.SetFault(aAddr, DNSFault{Rcode: dns.RcodeServerFailure})
	if resp, err := ask(time.Second); err != nil || resp.Rcode != dns.RcodeServerFailure || len(resp.Answer) != 0 {
		t.Errorf("SERVFAIL fault: %v, %v", resp, err)
	}
	srv.SetFault(aAddr, DNSFault{Drop: true})
	if resp, err := ask(300 * time.Millisecond); err == nil {
		t.Errorf("drop fault: answered %v", resp)
	}
	srv.SetFault(aAddr, DNSFault{Delay: 200 * time.Millisecond})
	begin := time.Now()
	if resp, err := ask(time.Second); err != nil || len(resp.Answer) != 1 || time.Since(begin) < 200*time.Millisecond {
		t.Errorf("delay fault: %v, %v after %v", resp, err, time.Since(begin))
	}
	srv.SetFault(aAddr, DNSFault{})
	if resp, err := ask(time.Second); err != nil || len(resp.Answer) != 1 {
		t.Errorf("fault cleared: %v, %v", resp, err)
	}

	// The AD bit: only for a name marked secure, and only to a query
	// that asks for it (DO or AD), as a validating resolver answers.
	askAD := func(do bool) *dns.Msg {
		var resp *dns.Msg
		must(t, a.Do(func() error {
			m := new(dns.Msg)
			m.SetQuestion("1.0.18.198.in-addr.arpa.", dns.TypeTXT)
			m.SetEdns0(1232, do)
			var err error
			resp, _, err = new(dns.Client).Exchange(m, ap.String())
			return err
		}))
		return resp
	}
	if askAD(true).AuthenticatedData {
		t.Error("AD bit on an unsigned name")
	}
	srv.SetSecure("1.0.18.198.in-addr.arpa", true)
	if r := askAD(true); !r.AuthenticatedData || len(r.Answer) != 1 {
		t.Errorf("secure name asked with DO: AD %v, %d answers", r.AuthenticatedData, len(r.Answer))
	}
	if askAD(false).AuthenticatedData {
		t.Error("AD bit to a query that asked for neither DO nor AD")
	}
	srv.SetSecure("1.0.18.198.in-addr.arpa.", false)
	if askAD(true).AuthenticatedData {
		t.Error("AD bit after SetSecure(false)")
	}
}

func TestClassify(t *testing.T) {
	ip4 := func(proto byte, payload ...byte) []byte {
		h := make([]byte, 20)
		h[0] = 0x45
		h[9] = proto
		copy(h[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
		return append(h, payload...)
	}
	udp := func(sp, dp uint16, body ...byte) []byte {
		return append([]byte{byte(sp >> 8), byte(sp), byte(dp >> 8), byte(dp), 0, 0, 0, 0}, body...)
	}
	for _, tc := range []struct {
		pkt  []byte
		want Kind
	}{
		{ip4(50, 1, 2, 3, 4), KindESP},
		{ip4(1, 8, 0), KindICMP},
		{ip4(1, 3, 3), KindICMPError},
		{ip4(6, 0, 1), KindClearTCP},
		{ip4(17, udp(500, 500, 1)...), KindIKE},
		{ip4(17, udp(4500, 4500, 0, 0, 0, 0, 9)...), KindIKE},
		{ip4(17, udp(4500, 4500, 0xff)...), KindIKE},
		{ip4(17, udp(4500, 4500, 0, 0, 0, 1, 9)...), KindESPinUDP},
		{ip4(17, udp(53, 5353)...), KindClearUDP},
	} {
		_, k, ok := Classify(tc.pkt)
		if !ok || k != tc.want {
			t.Errorf("%x: %v %v, want %v", tc.pkt, k, ok, tc.want)
		}
	}
	if _, _, ok := Classify([]byte{0x45, 0}); ok {
		t.Error("truncated packet classified")
	}
}
