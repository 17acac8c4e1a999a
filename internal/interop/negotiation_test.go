package interop

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/ike"
	"github.com/oemesh/oemesh/internal/netnstest"
	"github.com/oemesh/oemesh/internal/peers"
)

// The IKE_SA_INIT detours with a real peer: INVALID_KE_PAYLOAD in both
// directions, COOKIE from oemesh respond to strongSwan, and the probe's
// report of both.
func TestInvalidKEAndCookies(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	var pskCase authCase
	for _, a := range authCases(t, t.TempDir()) {
		if a.name == "psk" {
			pskCase = a
		}
	}
	x25519Only := proposalCases[0] // aes128gcm16-prfsha256-x25519
	// MODP-2048 first: its KE is what an initiator sends.
	modpFirst := x25519Only
	modpFirst.ike = "aes128gcm16-prfsha256-modp2048-x25519"

	// The probe offers MODP-2048 first; strongSwan accepts only X25519 and
	// answers INVALID_KE_PAYLOAD; the probe retries with X25519.
	t.Run("probe-to-strongswan-invalid-ke", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "ike")
		ssw := peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{
			sswConn("x", pskCase, net.B4.String(), net.A4.String(), x25519Only)}})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := runProbe(t, ctx, net.A, append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
			"--ike", modpFirst.ike, "--esp", x25519Only.esp, "--timeout", "5s"}, pskCase.flags...)...)
		checkProbe(t, r, pskCase, x25519Only, net.B4.String())
		rep := r.Report
		if !slices.Equal(rep.InvalidKE, []string{ike.DHCurve25519.String()}) {
			t.Errorf("INVALID_KE %v, want [%v]", rep.InvalidKE, ike.DHCurve25519)
		}
		if n := countExchanges(rep, "IKE_SA_INIT"); n != 2 {
			t.Errorf("%d IKE_SA_INIT exchanges, want 2 (the first refused)", n)
		}
		if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`DH group MODP_2048 unacceptable, requesting CURVE_25519`)); err != nil {
			t.Error(err)
		}
	})

	// strongSwan sends MODP-2048 first to a responder that requires a
	// cookie and accepts only X25519: it has to return the cookie, then
	// switch groups (returning the cookie again).
	t.Run("strongswan-to-respond-cookie-and-invalid-ke", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "ick")
		ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{
			sswConn("c", pskCase, net.A4.String(), net.B4.String(), modpFirst)}})
		resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(),
			"--ike", x25519Only.ike, "--cookie-threshold", "-1"}, pskCase.flags...)...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if lines, err := ssw.Initiate(ctx, "c", "host"); err != nil {
			t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
		}
		sa, err := ssw.WaitEstablished(ctx, "c", "host")
		if err != nil {
			t.Fatal(err)
		}
		checkResponded(t, ctx, resp, 0, sa, pskCase, x25519Only, net.A4.String())
		for _, re := range []string{
			`parsed IKE_SA_INIT response 0 \[ N\(COOKIE\) \]`,
			`received COOKIE notify`,
			`generating IKE_SA_INIT request 0 \[ N\(COOKIE\) SA KE `,
			`parsed IKE_SA_INIT response 0 \[ N\(INVAL_KE\) \]`,
		} {
			if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(re)); err != nil {
				t.Error(err)
			}
		}
		if _, err := ssw.Log.WaitFrom(ctx, 0, regexp.MustCompile(`peer didn't accept DH group MODP_2048, it requested CURVE_25519`)); err != nil {
			t.Error(err)
		}
	})

	// oemesh against itself across namespaces: the probe reports the
	// cookie that respond demands.
	t.Run("probe-to-respond-cookie", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "ipc")
		resp := startRespond(t, net.B, append([]string{"--listen", net.B4.String(), "--id", net.B4.String(), "--peer-id", net.A4.String(),
			"--cookie-threshold", "-1"}, pskCase.flags...)...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := runProbe(t, ctx, net.A, append([]string{net.B4.String(), "--id", net.A4.String(), "--peer-id", net.B4.String(),
			"--ike", x25519Only.ike, "--esp", x25519Only.esp, "--timeout", "5s"}, pskCase.flags...)...)
		logProbe(t, r)
		if r.Exit != 0 || !r.Report.Cookie {
			t.Errorf("probe exit %d cookie %v; want established after a cookie round trip\n%s", r.Exit, r.Report.Cookie, r)
		}
		if n := countExchanges(r.Report, "IKE_SA_INIT"); n != 2 {
			t.Errorf("%d IKE_SA_INIT exchanges, want 2 (the first answered with a cookie)", n)
		}
		if _, err := resp.waitEvent(ctx, 0, "child_up", eventIs("child_up")); err != nil {
			t.Error(err)
		}
	})
}

func countExchanges(rep probeReport, name string) int {
	n := 0
	for _, x := range rep.Exchanges {
		if x.Exchange == name {
			n++
		}
	}
	return n
}

// IPv6: the probe and respond over 2001:db8::/64 with strongSwan.
func TestStrongSwanIPv6(t *testing.T) {
	in := peers.Require(t)
	oemesh(t)
	t.Parallel()
	var edCase authCase
	for _, a := range authCases(t, t.TempDir()) {
		if a.name == "ed25519" {
			edCase = a
		}
	}
	p := proposalCases[1]
	t.Run("probe", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "i6p")
		peers.StartStrongSwan(t, in, net.B.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{
			sswConn("v6", edCase, net.B6.String(), net.A6.String(), p)}})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := runProbe(t, ctx, net.A, append([]string{net.B6.String(), "--id", net.A6.String(), "--peer-id", net.B6.String(),
			"--ike", p.ike, "--esp", p.esp, "--timeout", "5s"}, edCase.flags...)...)
		checkProbe(t, r, edCase, p, net.B6.String())
	})
	t.Run("respond", func(t *testing.T) {
		t.Parallel()
		net := netnstest.NewPair(t, "i6r")
		ssw := peers.StartStrongSwan(t, in, net.A.Name, peers.StrongSwanConfig{Conns: []peers.StrongSwanConn{
			sswConn("v6", edCase, net.A6.String(), net.B6.String(), p)}})
		resp := startRespond(t, net.B, append([]string{"--listen", net.B6.String(), "--id", net.B6.String(), "--peer-id", net.A6.String()}, edCase.flags...)...)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if lines, err := ssw.Initiate(ctx, "v6", "host"); err != nil {
			t.Fatalf("strongSwan initiate: %v\n%s", err, strings.Join(lines, "\n"))
		}
		sa, err := ssw.WaitEstablished(ctx, "v6", "host")
		if err != nil {
			t.Fatal(err)
		}
		checkResponded(t, ctx, resp, 0, sa, edCase, p, net.A6.String())
	})
}
