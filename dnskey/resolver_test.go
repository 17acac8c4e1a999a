package dnskey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/oemesh/oemesh/internal/clock/clocktest"
)

const target = "2.0.18.198.in-addr.arpa."

func newTestResolver(t testing.TB, s *testServer, mod func(*Config)) (*Resolver, *clocktest.Fake) {
	t.Helper()
	clk := clocktest.New()
	cfg := Config{Servers: []string{s.addr}, Timeout: 2 * time.Second, Clock: clk, MinTTL: time.Second, MaxTTL: 24 * time.Hour}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

func mustID(t testing.TB, s string) ID {
	t.Helper()
	id, err := ParseID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Every format and gateway type in one answer set, with malformed records
// mixed in: the good ones come back in precedence order, each bad one is
// skipped with its record and reason.
func TestLookupAllFormats(t *testing.T) {
	k := testKeys()
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	rsaKey, rsa2, edKey, p256 := b64key(t, &k.rsa.PublicKey), b64key(t, &k.rsa2.PublicKey), b64key(t, k.ed.Public()), b64key(t, &k.p256.PublicKey)
	txtChunks := `"X-IPsec-Server(15)=198.18.0.7 " "` + strings.Join(chunks(rsa2, 240), `" "`) + `"`
	s.add(t,
		target+" 300 IN IPSECKEY 30 3 4 gw.example.com. "+edKey,
		target+" 300 IN IPSECKEY 10 0 2 . "+rsaKey,
		target+" 300 IN IPSECKEY 20 1 3 198.18.0.9 "+p256,
		target+" 300 IN IPSECKEY 25 2 4 2001:db8::9 "+edKey,
		target+" 300 IN IPSECKEY 5 0 4 . "+rsaKey, // RSA key under the EdDSA number: bad
		target+" 300 IN TXT "+txtChunks,
		target+` 300 IN TXT "X-IPsec-Server(0x0c)=@gw2.example.com 0s`+rsaKey+`"`,
		target+` 300 IN TXT "X-IPsec-Server(1)=198.18.0.1 AQ=garbage"`, // bad
		target+` 300 IN TXT "v=spf1 -all"`,                             // ignored
		target+" 300 IN KEY 16896 4 1 "+rsaKey,
		target+" 300 IN KEY 16896 3 1 "+rsaKey, // wrong protocol: bad
	)
	r, _ := newTestResolver(t, s, nil)
	res, err := r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, pk := range res.Keys {
		got = append(got, pk.Source.String()+"/"+pk.Gateway.String()+"/"+pk.Algorithm.String())
		if !pk.Secure || pk.TTL != 300*time.Second || pk.Name != target || pk.PublicKey == nil {
			t.Errorf("%s: secure %v ttl %v name %s key %v", pk.Record, pk.Secure, pk.TTL, pk.Name, pk.PublicKey != nil)
		}
	}
	want := []string{
		"IPSECKEY/none/RSA", "TXT/@gw2.example.com./RSA", "TXT/198.18.0.7/RSA", "IPSECKEY/198.18.0.9/ECDSA",
		"IPSECKEY/2001:db8::9/EdDSA", "IPSECKEY/@gw.example.com./EdDSA", "KEY/none/RSA",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("keys in order:\n got %v\nwant %v", got, want)
	}
	if pkix(t, res.Keys[2].PublicKey) != pkix(t, &k.rsa2.PublicKey) {
		t.Fatal("split TXT key differs")
	}
	if len(res.Skipped) != 3 {
		t.Fatalf("skipped %d records, want 3: %+v", len(res.Skipped), res.Skipped)
	}
	for _, sk := range res.Skipped {
		if !strings.HasPrefix(sk.Record, target) || sk.Reason == "" {
			t.Errorf("skipped record lacks its name or reason: %+v", sk)
		}
	}
	conn := res.Connectable()
	if len(conn) != 5 {
		t.Fatalf("connectable: %d records, want 5 (no name gateways)", len(conn))
	}
}

// Every warning names the record.
func TestSkippedRecordIsLogged(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	s.add(t, target+` 300 IN TXT "X-IPsec-Server(99999)=198.18.0.1"`)
	var buf strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, nil))
	r, _ := newTestResolver(t, s, func(c *Config) { c.Logger = log })
	_, err := r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if !errors.Is(err, ErrNoKey) || errors.Is(err, ErrDNSFailure) {
		t.Fatalf("err = %v, want ErrNoKey", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(buf.String(), "2.0.18.198.in-addr.arpa.") || !strings.Contains(buf.String(), "99999") {
		t.Fatalf("warning does not name the record: %s", buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func TestLookupNegativeAndFailures(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	s.set(func() { s.nxdomain["3.0.18.198.in-addr.arpa."] = true })
	s.set(func() { s.servfail["4.0.18.198.in-addr.arpa."] = true })
	s.set(func() { s.drop["5.0.18.198.in-addr.arpa."] = true })
	s.add(t, "6.0.18.198.in-addr.arpa. 300 IN PTR host.example.") // NODATA for our types
	// Generous: a loaded CI machine must not turn SERVFAIL into a timeout.
	r, _ := newTestResolver(t, s, func(c *Config) { c.Timeout = 500 * time.Millisecond })
	tests := []struct {
		addr      string
		noKey     bool
		outcome   string
		errSubstr string
	}{
		{"198.18.0.3", true, "IPSECKEY: NXDOMAIN", "NXDOMAIN"},
		{"198.18.0.6", true, "IPSECKEY: NODATA", "NODATA"},
		{"198.18.0.4", false, "IPSECKEY: failed", "SERVFAIL"},
		{"198.18.0.5", false, "IPSECKEY: failed", "timeout"},
	}
	for _, tc := range tests {
		res, err := r.Lookup(context.Background(), mustID(t, tc.addr))
		if errors.Is(err, ErrNoKey) != tc.noKey || errors.Is(err, ErrDNSFailure) == tc.noKey {
			t.Errorf("%s: err = %v; want ErrNoKey=%v, ErrDNSFailure=%v", tc.addr, err, tc.noKey, !tc.noKey)
		}
		if err == nil || !strings.Contains(err.Error(), tc.errSubstr) {
			t.Errorf("%s: err = %v, want it to mention %s", tc.addr, err, tc.errSubstr)
		}
		if len(res.Outcome) == 0 || res.Outcome[0] != tc.outcome {
			t.Errorf("%s: outcome %v, want %s first", tc.addr, res.Outcome, tc.outcome)
		}
	}
	// One retry: each type asked twice of the only server.
	if n := s.count("5.0.18.198.in-addr.arpa.", dns.TypeIPSECKEY); n != 2 {
		t.Errorf("timed-out name asked %d times, want 2 (one retry)", n)
	}
	if st := r.Stats(); st.Errors != 6 {
		t.Errorf("error counter %d, want 6 (3 types x 2 names)", st.Errors)
	}
}

func TestLookupFailsOverToNextServer(t *testing.T) {
	dead, err := net.ListenPacket("udp", "127.0.0.1:0") // never answers
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	s.add(t, target+" 300 IN IPSECKEY 10 0 4 . "+b64key(t, testKeys().ed.Public()))
	r, _ := newTestResolver(t, s, func(c *Config) {
		c.Servers = []string{dead.LocalAddr().String(), s.addr}
		c.Timeout = 300 * time.Millisecond
	})
	res, err := r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if err != nil || len(res.Keys) != 1 {
		t.Fatalf("Lookup = %+v, %v", res, err)
	}
}

func TestLookupContextCancel(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.drop[target] = true })
	r, _ := newTestResolver(t, s, func(c *Config) { c.Timeout = 5 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := r.Lookup(ctx, mustID(t, "198.18.0.2"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Lookup took %v after its context ended", el)
	}
}

func TestDNSSECRequired(t *testing.T) {
	s := newTestServer(t)
	key := b64key(t, testKeys().ed.Public())
	s.add(t, target+" 300 IN IPSECKEY 10 0 4 . "+key)

	strict, _ := newTestResolver(t, s, nil)
	res, err := strict.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if !errors.Is(err, ErrInsecure) || !errors.Is(err, ErrNoKey) {
		t.Fatalf("unsigned answer under require_dnssec: err = %v, want ErrInsecure (an ErrNoKey)", err)
	}
	if !res.Insecure || len(res.Keys) != 0 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0].Reason, "require_dnssec") {
		t.Fatalf("result does not explain the insecure answer: %+v", res)
	}

	lax, _ := newTestResolver(t, s, func(c *Config) { c.AcceptInsecure = true })
	res, err = lax.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if err != nil || len(res.Keys) != 1 || res.Keys[0].Secure || !res.Insecure {
		t.Fatalf("AcceptInsecure: %+v, %v", res, err)
	}

	s.set(func() { s.ad = true })
	res, err = strict.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if !errors.Is(err, ErrInsecure) {
		t.Fatalf("the insecure answer should still be cached: %v", err)
	}
	fresh, _ := newTestResolver(t, s, nil)
	res, err = fresh.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if err != nil || !res.Keys[0].Secure || res.Insecure {
		t.Fatalf("AD answer: %+v, %v", res, err)
	}
}

// The queries carry DO and AD so that a validating resolver reports AD.
func TestQueryAsksForAD(t *testing.T) {
	s := newTestServer(t)
	var got *dns.Msg
	var mu sync.Mutex
	mux := dns.NewServeMux()
	mux.HandleFunc(".", func(w dns.ResponseWriter, q *dns.Msg) {
		mu.Lock()
		got = q
		mu.Unlock()
		s.serve(w, q)
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: mux}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	r, _ := newTestResolver(t, s, func(c *Config) { c.Servers = []string{pc.LocalAddr().String()}; c.Timeout = time.Second })
	r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	mu.Lock()
	defer mu.Unlock()
	if got == nil || !got.AuthenticatedData || got.IsEdns0() == nil || !got.IsEdns0().Do() || !got.RecursionDesired {
		t.Fatalf("query lacks AD, DO or RD: %v", got)
	}
}

// Concurrent lookups of one name share one query per type.
func TestLookupCoalesces(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	s.add(t, target+" 300 IN IPSECKEY 10 0 4 . "+b64key(t, testKeys().ed.Public()))
	gate := make(chan struct{})
	s.set(func() { s.gate = gate })
	r, _ := newTestResolver(t, s, func(c *Config) { c.Timeout = 5 * time.Second })
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
			errs <- err
		})
	}
	// Wait until every lookup has missed the cache and the first query
	// of each type has reached the server, then let the answers go.
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats().Misses < 3*n || s.queries.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("lookups did not start: %+v", r.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // the last misses reach DoChan
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, qt := range queryTypes {
		if c := s.count(target, qt); c != 1 {
			t.Errorf("%s asked %d times, want 1", dns.TypeToString[qt], c)
		}
	}
	// Normally 3*(n-1) joined a flight; a lookup descheduled between its
	// miss and joining finds the cache filled instead (still no query).
	if st := r.Stats(); st.Coalesced == 0 || st.Coalesced > 3*(n-1) {
		t.Errorf("coalesced %d, want 1..%d", st.Coalesced, 3*(n-1))
	}
}

// A truncated UDP answer is asked again over TCP.
func TestTCPFallback(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	s.set(func() { s.udpMax = 512 })
	k := testKeys()
	for _, pub := range []any{&k.rsa.PublicKey, &k.rsa2.PublicKey} {
		txt, err := TXTRecordRR(RecordSpec{Name: target, TTL: 300, Precedence: 10,
			Gateway: mustGateway(t, "198.18.0.2"), PublicKey: pub})
		if err != nil {
			t.Fatal(err)
		}
		s.addRR(txt)
	}
	r, _ := newTestResolver(t, s, nil)
	res, err := r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if err != nil || len(res.Keys) != 2 {
		t.Fatalf("Lookup = %+v, %v", res, err)
	}
	if s.tcp.Load() == 0 {
		t.Fatal("no TCP query: truncation not handled")
	}
}

func mustGateway(t testing.TB, s string) Gateway {
	t.Helper()
	g, err := ParseGateway(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestAuthorizes(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	key := b64key(t, &testKeys().rsa.PublicKey)
	s.add(t,
		target+` 300 IN TXT "X-IPsec-Server(10)=198.18.0.9"`,
		target+` 300 IN TXT "X-IPsec-Server(20)=@gw.example.com"`,
		"3.0.18.198.in-addr.arpa. 300 IN IPSECKEY 10 0 2 . "+key,
	)
	r, _ := newTestResolver(t, s, nil)
	ctx := context.Background()
	for _, tc := range []struct {
		client, gw string
		want       bool
	}{
		{"198.18.0.2", "198.18.0.9", true},
		{"198.18.0.2", "@GW.example.com", true},
		{"198.18.0.2", "198.18.0.8", false},
		{"198.18.0.2", "198.18.0.2", false},
		{"198.18.0.3", "198.18.0.3", true},
		{"198.18.0.3", "198.18.0.9", false},
	} {
		ok, err := r.Authorizes(ctx, mustID(t, tc.client), mustID(t, tc.gw))
		if err != nil || ok != tc.want {
			t.Errorf("Authorizes(%s, %s) = %v, %v; want %v", tc.client, tc.gw, ok, err, tc.want)
		}
	}
	s.set(func() { s.nxdomain["4.0.18.198.in-addr.arpa."] = true })
	if ok, err := r.Authorizes(ctx, mustID(t, "198.18.0.4"), mustID(t, "198.18.0.9")); ok || !errors.Is(err, ErrNoKey) {
		t.Errorf("Authorizes without records = %v, %v", ok, err)
	}
}

func TestCNAMEChain(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	key := b64key(t, testKeys().ed.Public())
	s.add(t,
		target+" 300 IN CNAME 2.sub.0.18.198.in-addr.arpa.",
		"2.sub.0.18.198.in-addr.arpa. 60 IN IPSECKEY 10 0 4 . "+key,
		"elsewhere.example. 60 IN IPSECKEY 10 0 4 . "+key,
	)
	// The server answers the CNAME and, as a recursive resolver would, the target's records.
	s.mu.Lock()
	s.records[target] = append(s.records[target], s.records["2.sub.0.18.198.in-addr.arpa."]...)
	s.records[target] = append(s.records[target], s.records["elsewhere.example."]...)
	s.mu.Unlock()
	r, _ := newTestResolver(t, s, nil)
	res, err := r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if err != nil || len(res.Keys) != 1 || res.Keys[0].Name != "2.sub.0.18.198.in-addr.arpa." {
		t.Fatalf("CNAME: %+v, %v (records off the chain must be ignored)", res, err)
	}
}

func TestResolvConfDefault(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/resolv.conf"
	if err := writeFile(path, "nameserver 127.0.0.53\nnameserver ::1\n"); err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{ResolvConf: path})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Servers(), " "); got != "127.0.0.53:53 [::1]:53" {
		t.Fatalf("servers %q", got)
	}
	if _, err := New(Config{ResolvConf: dir + "/missing"}); err == nil {
		t.Fatal("missing resolv.conf accepted")
	}
	r, err = New(Config{Servers: []string{"198.18.0.53", path, "[2001:db8::53]:5353"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Servers(), " "); got != "198.18.0.53:53 127.0.0.53:53 [::1]:53 [2001:db8::53]:5353" {
		t.Fatalf("mixed servers %q", got)
	}
	for _, bad := range []string{"dns.example.com", "nonsense:53", dir + "/missing"} {
		if _, err := New(Config{Servers: []string{bad}}); err == nil {
			t.Errorf("server %q accepted", bad)
		}
	}
}

func TestCacheEntriesNegative(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true })
	s.set(func() { s.nxdomain["3.0.18.198.in-addr.arpa."] = true })
	s.add(t, target+" 300 IN IPSECKEY 10 0 4 . "+b64key(t, testKeys().ed.Public()))
	r, clk := newTestResolver(t, s, nil)
	r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	r.Lookup(context.Background(), mustID(t, "198.18.0.3"))
	clk.Advance(100 * time.Second)
	var got []string
	for _, e := range r.CacheEntries() {
		got = append(got, fmt.Sprintf("%s %s %s %v %d", e.Name, e.Type, e.Answer, e.Expires, len(e.Keys)))
	}
	want := []string{
		target + " IPSECKEY records 3m20s 1",
		target + " KEY NODATA 3m20s 0",
		target + " TXT NODATA 3m20s 0",
		"3.0.18.198.in-addr.arpa. IPSECKEY NXDOMAIN 3m20s 0",
		"3.0.18.198.in-addr.arpa. KEY NXDOMAIN 3m20s 0",
		"3.0.18.198.in-addr.arpa. TXT NXDOMAIN 3m20s 0",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	clk.Advance(200 * time.Second)
	if n := len(r.CacheEntries()); n != 0 {
		t.Fatalf("%d entries listed after expiry", n)
	}
}

// One type failing does not hide the keys another found; but "no key" is
// only claimed when every type answered.
func TestLookupPartialFailure(t *testing.T) {
	s := newTestServer(t)
	s.set(func() { s.ad = true; s.failType[dns.TypeTXT] = true })
	s.add(t, target+" 300 IN IPSECKEY 10 0 4 . "+b64key(t, testKeys().ed.Public()))
	r, _ := newTestResolver(t, s, nil)
	res, err := r.Lookup(context.Background(), mustID(t, "198.18.0.2"))
	if err != nil || len(res.Keys) != 1 || len(res.Failures) != 1 || !strings.Contains(res.Failures[0], "TXT") {
		t.Fatalf("Lookup = %+v, %v; want the key and one TXT failure", res, err)
	}
	_, err = r.Lookup(context.Background(), mustID(t, "198.18.0.3"))
	if !errors.Is(err, ErrDNSFailure) || errors.Is(err, ErrNoKey) {
		t.Fatalf("NODATA + SERVFAIL: err = %v, want ErrDNSFailure", err)
	}
}
