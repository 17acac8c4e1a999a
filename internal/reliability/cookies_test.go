package reliability

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/lab"
)

// cookieThreshold is oemeshd's half-open count at which IKE_SA_INIT
// requests need a cookie (ike.EngineConfig.HalfOpenCookieThreshold's
// default; the daemon does not change it).
const cookieThreshold = 64

// initRequest is a well-formed IKE_SA_INIT request (RFC 7296 §1.2) that
// oemeshd's default proposals accept: AES-GCM-16-256, PRF-HMAC-SHA2-256,
// Curve25519 with a random public value, and a random nonce.
func initRequest(r *rand.Rand) []byte {
	transforms := []byte{
		3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 1, 0, // ENCR_AES_GCM_16, key length 256
		3, 0, 0, 8, 2, 0, 0, 5, // PRF_HMAC_SHA2_256
		0, 0, 0, 8, 4, 0, 0, 31, // Curve25519
	}
	proposal := append([]byte{0, 0, 0, byte(8 + len(transforms)), 1, 1, 0, 3}, transforms...)
	sa := append([]byte{34, 0, 0, byte(4 + len(proposal))}, proposal...)
	ke := append([]byte{40, 0, 0, 8 + 32, 0, 31, 0, 0}, randBytes(r, 32)...)
	nonce := append([]byte{0, 0, 0, 4 + 32}, randBytes(r, 32)...)
	body := append(append(sa, ke...), nonce...)
	return append(ikeHeader(r.Uint64()|1, 0, 33, 34, 0x08, 0, len(body)), body...)
}

// TestCookieModeEngages: IKE_SA_INIT requests that never go on to
// IKE_AUTH (what a flood leaves) fill b's half-open SAs to the cookie
// threshold. Cookie mode must turn on, in status and in b's log, within
// 1 s; every request beyond the threshold must get a cookie demand, and
// none more; established tunnels keep carrying traffic; and cookie mode
// must turn off, with a log line, once no cookie was demanded for the hold
// (5 s), within a second more.
func TestCookieModeEngages(t *testing.T) {
	m := newMesh(t)
	ctx := ctxT(t, 60*time.Second)
	b, d := m.Hosts["b"], m.Hosts["d"]
	start(t, m, ctx, "b", lab.HostConfig{Policies: responderPolicies})
	start(t, m, ctx, "a", lab.HostConfig{Policies: initiatorPolicies})
	if r := m.Ping(ctx, "a", b.Addr4, 3, 100*time.Millisecond); r.Received < 2 {
		t.Fatalf("no tunnel a→b: %+v", r)
	}
	before := status(t, m, ctx, "b").Defences
	if before.CookieMode {
		t.Fatalf("cookie mode on before any flood: %+v", before)
	}

	const requests = 2 * cookieThreshold
	var conn *net.UDPConn
	err := d.Node.Do(func() (err error) {
		conn, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.Addr4, 500)))
		return err
	})
	if err != nil {
		t.Fatalf("d's socket: %v", err)
	}
	defer conn.Close()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 18))
	began := time.Now()
	for range requests {
		if _, err := conn.Write(initRequest(r)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // below a socket buffer's worth
	}
	sentAll := time.Since(began)

	var on time.Duration
	st := before
	for {
		st = status(t, m, ctx, "b").Defences
		if on = time.Since(began); st.CookieMode && st.CookiesDemanded-before.CookiesDemanded >= requests-cookieThreshold || on > 3*time.Second {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	demanded := st.CookiesDemanded - before.CookiesDemanded
	pr := m.Ping(ctx, "a", b.Addr4, 10, 50*time.Millisecond)
	onLog := strings.Contains(m.Log("b"), "ike: cookie mode on")

	// Off: the hold after the last cookie, which went with the last
	// request.
	var off time.Duration
	for {
		st2 := status(t, m, ctx, "b").Defences
		if off = time.Since(began) - sentAll; !st2.CookieMode || off > 10*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	offLog := strings.Contains(m.Log("b"), "ike: cookie mode off")
	t.Logf("FIGURE cookies: %d IKE_SA_INIT in %v; cookie mode on (status) %v after the first; %d cookies demanded (want %d), half-open %d; pings through the tunnel meanwhile %d of %d; off %v after the last (hold 5 s); log lines on %v, off %v",
		requests, sentAll.Round(time.Millisecond), on.Round(10*time.Millisecond), demanded, requests-cookieThreshold, st.HalfOpen,
		pr.Received, pr.Sent, off.Round(10*time.Millisecond), onLog, offLog)
	if !st.CookieMode || on > sentAll+time.Second {
		t.Errorf("cookie mode %v %v after the first request, want on within 1 s of the last", st.CookieMode, on)
	}
	if demanded != requests-cookieThreshold || st.HalfOpen != cookieThreshold {
		t.Errorf("%d cookies demanded with %d half-open SAs; want %d and %d", demanded, st.HalfOpen, requests-cookieThreshold, cookieThreshold)
	}
	if !onLog || !offLog {
		t.Errorf("b's log: cookie mode on line %v, off line %v; want both", onLog, offLog)
	}
	if off < 5*time.Second || off > 7*time.Second {
		t.Errorf("cookie mode off %v after the last request, want 5 s (the hold) to 7 s", off)
	}
	if pr.Received < pr.Sent-1 {
		t.Errorf("the tunnel lost %d of %d pings in cookie mode", pr.Sent-pr.Received, pr.Sent)
	}
}
