package main

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/oemesh/oemesh/dnskey"
)

// dnsTestServer answers from a fixed table on 127.0.0.1, with the AD bit.
func dnsTestServer(t *testing.T, records map[string][]string, servfail, drop string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		if q.Name == drop {
			return
		}
		m := new(dns.Msg)
		m.SetReply(req)
		m.AuthenticatedData = true
		switch {
		case q.Name == servfail:
			m.Rcode = dns.RcodeServerFailure
		case records[q.Name] == nil:
			m.Rcode = dns.RcodeNameError
		default:
			for _, s := range records[q.Name] {
				rr, err := dns.NewRR(s)
				if err != nil {
					panic(err)
				}
				if rr.Header().Rrtype == q.Qtype {
					m.Answer = append(m.Answer, rr)
				}
			}
		}
		w.WriteMsg(m)
	})
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestDNSLookupExitCodes(t *testing.T) {
	k, err := dnskey.GenerateHostKey(dnskey.HostKeyEd25519, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, raw, _ := dnskey.MarshalPublicKey(k.Public())
	key := base64.StdEncoding.EncodeToString(raw)
	fp := dnskey.Fingerprint(k.Public())
	srv := dnsTestServer(t, map[string][]string{
		"2.0.18.198.in-addr.arpa.": {
			"2.0.18.198.in-addr.arpa. 300 IN IPSECKEY 10 1 4 198.18.0.9 " + key,
			`2.0.18.198.in-addr.arpa. 300 IN TXT "X-IPsec-Server(5)=198.18.0.1 AQ=="`,
		},
		"3.0.18.198.in-addr.arpa.": {`3.0.18.198.in-addr.arpa. 300 IN TXT "X-IPsec-Server(5)=@gw.example.com"`},
		"6.0.18.198.in-addr.arpa.": {"6.0.18.198.in-addr.arpa. 300 IN IPSECKEY 10 0 4 . AAAA"},
	}, "4.0.18.198.in-addr.arpa.", "5.0.18.198.in-addr.arpa.")

	out, errOut, code := runRoot(t, "dns", "lookup", "--server", srv, "198.18.0.2")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{"IPSECKEY", "10", "198.18.0.9", "EdDSA", fp, "300s", "secure", "skipped 1 record", "X-IPsec-Server(5)", "reason:"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, _, code = runRoot(t, "dns", "lookup", "--server", srv, "--json", "198.18.0.2")
	var res dnsLookupOutput
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.Status != "found" || len(res.Keys) != 1 ||
		res.Keys[0].Fingerprint != fp || *res.Keys[0].Precedence != 10 || !res.Keys[0].Secure || len(res.Skipped) != 1 {
		t.Fatalf("--json: exit %d\n%s", code, out)
	}

	for _, tc := range []struct {
		id   string
		code int
		want string
	}{
		{"198.18.0.7", 3, "NXDOMAIN"},
		{"198.18.0.3", 3, "carry no key"},
		{"198.18.0.6", 3, "did not parse"},
		{"198.18.0.4", 1, "SERVFAIL"},
		{"198.18.0.5", 1, "timeout"},
		{"not-an-id", 1, "neither an IP address nor @fqdn"},
	} {
		out, errOut, code := runRoot(t, "dns", "lookup", "--server", srv, "--timeout", "500ms", tc.id)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("dns lookup %s: exit %d, want %d and %q:\n%s%s", tc.id, code, tc.code, tc.want, out, errOut)
		}
		out, _, code = runRoot(t, "dns", "lookup", "--server", srv, "--timeout", "500ms", "--json", tc.id)
		if tc.id != "not-an-id" && (code != tc.code || json.Unmarshal([]byte(out), &res) != nil || !strings.Contains(res.Error, tc.want)) {
			t.Errorf("dns lookup --json %s: exit %d, want %d and error %q:\n%s", tc.id, code, tc.code, tc.want, out)
		}
	}
}
