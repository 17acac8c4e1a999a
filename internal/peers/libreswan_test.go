package peers

import (
	"context"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/oemesh/oemesh/internal/netnstest"
)

// Two pluto instances doing NULL-auth OE (oe-authnull.conf, both with the /24 in
// private-or-clear), each direction on fresh instances so each runs a full
// IKE_SA_INIT + IKE_AUTH. On this kernel the CHILD SA is negotiated and then refused by the
// kernel: the responder logs errno 38 and answers TS_UNACCEPTABLE, the initiator keeps the
// IKE SA.
func TestLibreswanNullOEBothDirections(t *testing.T) {
	in := Require(t)
	t.Parallel()
	for _, dir := range []struct {
		name    string
		reverse bool // B initiates toward A
		trigger string
	}{
		{"A-to-B-by-whack-oppo", false, "whack"},
		{"B-to-A-by-packet-acquire", true, "ping"},
	} {
		t.Run(dir.name, func(t *testing.T) {
			t.Parallel()
			net := netnstest.NewPair(t, "pl")
			mk := func(ns string, addr netip.Addr) *Libreswan {
				return StartLibreswan(t, in, ns, LibreswanConfig{
					Conns:    OEConns(addr.String()),
					Policies: map[string][]string{"private-or-clear": {"192.0.2.0/24"}},
				})
			}
			a, b := mk(net.A.Name, net.A4), mk(net.B.Name, net.B4)
			ini, resp, iniAddr, respAddr, iniNS := a, b, net.A4.String(), net.B4.String(), net.A.Name
			if dir.reverse {
				ini, resp, iniAddr, respAddr, iniNS = b, a, net.B4.String(), net.A4.String(), net.B.Name
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			mi, mr := ini.Log.Mark(), resp.Log.Mark()
			switch dir.trigger {
			case "whack":
				out, err := ini.Oppo(ctx, iniAddr, respAddr)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(out, "initiator established IKE SA") {
					t.Errorf("whack --oppohere output lacks the established IKE SA:\n%s", out)
				}
			case "ping":
				// The trap policy (auto=route) turns the first packet into a kernel ACQUIRE.
				// The ping itself is held, then refused: only the ACQUIRE matters here.
				_ = exec.CommandContext(ctx, "ip", "netns", "exec", iniNS, "ping", "-n", "-c", "1", "-W", "1", respAddr).Run()
				if _, err := ini.Log.WaitFrom(ctx, mi, regexpFor(`initiate on-demand for packet `+iniAddr+`:\S+->`+respAddr)); err != nil {
					t.Fatal(err)
				}
			}
			for _, side := range []struct {
				l    *Libreswan
				peer string
			}{{ini, respAddr}, {resp, iniAddr}} {
				st, err := side.l.WaitIKEEstablished(ctx, side.peer)
				if err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(st.Conn, "private-or-clear#192.0.2.0/24") || st.Port != 500 {
					t.Errorf("IKE SA in %s: conn %q port %d; want the private-or-clear instance on port 500", side.l.NS, st.Conn, st.Port)
				}
				if brief, err := side.l.Whack(ctx, "--briefstatus"); err != nil || !strings.Contains(brief, "anonymous(1)") {
					t.Errorf("briefstatus in %s: want 1 anonymous (NULL-auth) IKE SA: %v\n%s", side.l.NS, err, brief)
				}
			}
			if _, err := ini.Log.WaitFrom(ctx, mi, regexpFor(`initiator established IKE SA; authenticated peer using authby=null and ID_NULL`)); err != nil {
				t.Fatal(err)
			}
			if _, err := resp.Log.WaitFrom(ctx, mr, regexpFor(`responder established IKE SA; authenticated peer using authby=null and ID_NULL`)); err != nil {
				t.Fatal(err)
			}
			// The CHILD SA: negotiated, then refused by this kernel on the responder, which
			// answers TS_UNACCEPTABLE.
			rr, err := resp.WaitChild(ctx, mr, iniAddr)
			if err != nil {
				t.Fatal(err)
			}
			if rr.Outcome != ChildKernelNoESP && rr.Outcome != ChildEstablished {
				t.Errorf("responder CHILD SA: %v %v; want negotiated (kernel without ESP) or established", rr.Outcome, rr.Lines)
			}
			ir, err := ini.WaitChild(ctx, mi, respAddr)
			if err != nil {
				t.Fatal(err)
			}
			if rr.Outcome == ChildKernelNoESP && (ir.Outcome != ChildRejectedByPeer || ir.Notify != "TS_UNACCEPTABLE") {
				t.Errorf("initiator CHILD SA: %v %s %v; want TS_UNACCEPTABLE from the responder", ir.Outcome, ir.Notify, ir.Lines)
			}
			if ts, err := ini.TrafficStatus(ctx); err != nil || (rr.Outcome == ChildKernelNoESP && len(ts) != 0) {
				t.Errorf("trafficstatus on the initiator: %v %+v", err, ts)
			}
			// Taking the instance down deletes the IKE SA on both ends.
			if _, err := ini.Down(ctx, st0(t, ctx, ini, respAddr).Conn); err != nil {
				t.Fatal(err)
			}
			for _, side := range []struct {
				l    *Libreswan
				peer string
			}{{ini, respAddr}, {resp, iniAddr}} {
				if err := side.l.WaitGone(ctx, func(st LibreswanState) bool { return st.Peer == side.peer }); err != nil {
					t.Error(err)
				}
			}
		})
	}
}

// regexpFor compiles a log pattern (tests pass literal patterns).
func regexpFor(pattern string) *regexp.Regexp { return regexp.MustCompile(pattern) }

// Two pluto instances with a configured IKEv2 conn authenticated by raw RSA keys
// (authby=rsasig: each signs with its NSS host key, each knows the other's key as
// rightrsasigkey), brought up with whack --initiate (ipsec auto --up).
func TestLibreswanRSASigRawKeys(t *testing.T) {
	in := Require(t)
	t.Parallel()
	net := netnstest.NewPair(t, "pr")
	cfg := LibreswanConfig{HostKeyBits: 3072}
	a := StartLibreswan(t, in, net.A.Name, cfg)
	b := StartLibreswan(t, in, net.B.Name, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn := func(local, remote netip.Addr, peerKey *LibreswanHostKey) LibreswanConn {
		return LibreswanConn{
			Name: "rsa", Left: local.String(), Right: remote.String(),
			LeftID: local.String(), RightID: remote.String(),
			AuthBy: "rsasig", LeftHostKey: true, RightRSASigKey: peerKey.RSASigKey,
			IKEv2: "insist", Type: "tunnel", Auto: "add",
		}
	}
	if err := a.AddConn(ctx, conn(net.A4, net.B4, b.HostKey)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddConn(ctx, conn(net.B4, net.A4, a.HostKey)); err != nil {
		t.Fatal(err)
	}
	ma, mb := a.Log.Mark(), b.Log.Mark()
	out, err := a.Up(ctx, "rsa")
	// whack --initiate fails on this kernel (the CHILD SA cannot be installed); the IKE SA
	// must be up regardless.
	t.Logf("whack --initiate: %v\n%s", err, out)
	if !strings.Contains(out, "initiator established IKE SA; authenticated peer") || !strings.Contains(out, "RSA") {
		t.Errorf("whack --initiate did not authenticate the peer's RSA signature:\n%s", out)
	}
	for _, side := range []struct {
		l    *Libreswan
		peer string
	}{{a, net.B4.String()}, {b, net.A4.String()}} {
		st, err := side.l.WaitIKEEstablished(ctx, side.peer)
		if err != nil {
			t.Fatal(err)
		}
		if st.Conn != "rsa" {
			t.Errorf("IKE SA in %s on conn %q, want rsa", side.l.NS, st.Conn)
		}
	}
	if _, err := b.Log.WaitFrom(ctx, mb, regexpFor(`responder established IKE SA; authenticated peer '\d+-bit RSASSA-PSS`)); err != nil {
		t.Fatal(err)
	}
	rr, err := b.WaitChild(ctx, mb, net.A4.String())
	if err != nil {
		t.Fatal(err)
	}
	if rr.Outcome != ChildKernelNoESP && rr.Outcome != ChildEstablished {
		t.Errorf("responder CHILD SA: %v %v", rr.Outcome, rr.Lines)
	}
	ir, err := a.WaitChild(ctx, ma, net.B4.String())
	if err != nil {
		t.Fatal(err)
	}
	if rr.Outcome == ChildKernelNoESP && (ir.Outcome != ChildRejectedByPeer || ir.Notify != "TS_UNACCEPTABLE") {
		t.Errorf("initiator CHILD SA: %v %s %v; want TS_UNACCEPTABLE from the responder", ir.Outcome, ir.Notify, ir.Lines)
	}
}

// st0 returns the established IKE state with peer.
func st0(t *testing.T, ctx context.Context, l *Libreswan, peer string) LibreswanState {
	t.Helper()
	st, err := l.WaitIKEEstablished(ctx, peer)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A PSK conn added after start, with its secret given by SetSecrets (ipsec.secrets reread).
func TestLibreswanPSKAddedLater(t *testing.T) {
	in := Require(t)
	t.Parallel()
	net := netnstest.NewPair(t, "pk")
	a := StartLibreswan(t, in, net.A.Name, LibreswanConfig{})
	b := StartLibreswan(t, in, net.B.Name, LibreswanConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	secret := net.A4.String() + " " + net.B4.String() + ` : PSK "libreswan-psk-test-secret-0123"`
	for _, side := range []struct {
		l             *Libreswan
		local, remote string
	}{{a, net.A4.String(), net.B4.String()}, {b, net.B4.String(), net.A4.String()}} {
		if err := side.l.SetSecrets(ctx, []string{secret}); err != nil {
			t.Fatal(err)
		}
		if err := side.l.AddConn(ctx, LibreswanConn{Name: "psk", Left: side.local, Right: side.remote, AuthBy: "secret",
			IKEv2: "insist", Type: "transport", IKE: "aes256-sha2_256;dh19", ESP: "aes_gcm128", Auto: "add"}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := a.Up(ctx, "psk")
	if !strings.Contains(out, "initiator established IKE SA; authenticated peer using authby=secret") {
		t.Fatalf("whack --initiate: %v\n%s", err, out)
	}
	if _, err := b.WaitIKEEstablished(ctx, net.A4.String()); err != nil {
		t.Fatal(err)
	}
}
